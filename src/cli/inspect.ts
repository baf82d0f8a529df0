// One-shot observation for `plan` and doctor: the same snapshot and lease read the agent uses, folded by the same
// core, starting from the running agent's choices so that the answer is the agent's.
import type { Logger } from "pino";
import { leaseFiles } from "../config/schema.js";
import { unknownDevice } from "../core/device.js";
import { initialFacts, reduce } from "../core/facts.js";
import { plan } from "../core/plan.js";
import type { AgentStatus } from "../core/status.js";
import type { Config, DevicePlan, Facts, OperatorChoices, OwnAddress, Plan } from "../core/types.js";
import { readAddressRecord } from "../effects/addresses.js";
import { runChecked, type Runner } from "../effects/exec.js";
import { loadOperatorChoices } from "../effects/state-store.js";
import { readLeases } from "../sources/leases.js";
import { readNeighbours } from "../sources/neighbours.js";
import { parseIpAddrJson } from "../sources/ip-addr.js";
import { readStatus, runningAgentPid } from "./runtime.js";

/**
 * The facts a fresh observation starts from. The core's choices are sticky only between equals (the WAN address in
 * use among equally ranked ones, the last known device while its lease is gone), so a fresh observation agrees with
 * the agent once it starts from the agent's choices: those in its status, else the persisted operator state. `recorded`
 * is the record of the own addresses sixgate added (readAddressRecord): the plan serves on no other present address.
 */
export function seededFacts(
  status: AgentStatus | undefined,
  persisted: OperatorChoices,
  recorded: OwnAddress[] | undefined,
): Facts {
  // A status written by a 0.1 agent has no devices: nothing to seed from it but the WAN address.
  const seen = status?.devices ?? [];
  const devices: Facts["devices"] = {};
  const choices: OperatorChoices = {};
  for (const d of seen) {
    devices[d.name] =
      d.address === null
        ? unknownDevice
        : { mac: d.mac ?? undefined, address: d.address, source: d.source ?? undefined, detail: undefined };
    choices[d.name] = { enabled: d.enabled, ports: d.portsSource === "runtime" ? d.ports : undefined };
  }
  return {
    ...initialFacts,
    wanAddress: status?.wan.address ?? undefined,
    devices,
    choices: status === undefined ? persisted : choices,
    recordedAddresses: recorded,
  };
}

export async function observePlan(config: Config, runner: Runner, log: Logger): Promise<Plan> {
  const links = parseIpAddrJson((await runChecked(runner, ["ip", "-json", "addr", "show"])).stdout);
  const pid = await runningAgentPid(config.runtimeDir);
  const status = pid === undefined ? undefined : await readStatus(config.runtimeDir);
  const persisted = await loadOperatorChoices(config, log);
  const recorded = await readAddressRecord(config.runtimeDir);
  let state = { config, facts: seededFacts(status, persisted, recorded) };
  state = reduce(state, { type: "links", links });
  state = reduce(state, await readLeases(leaseFiles(config), log));
  const byMac = config.devices.some((d) => d.mac !== undefined && d.address === undefined);
  const neighbours = byMac ? await readNeighbours(runner, config.lan.interface, log) : undefined;
  if (neighbours !== undefined) state = reduce(state, neighbours);
  return plan(state.facts, state.config);
}

/**
 * A device's line in `sixgate plan`: its address, its own IPv6 address and what the kernel says of it (or that it is
 * refused: another program's), how many listeners it gets, and why it gets none.
 */
export function describeDevicePlan(d: DevicePlan): string {
  const where = `${d.device.address ?? "unknown"}${d.device.mac ? ` (${d.device.mac})` : ""}`;
  const refused = d.refusedAddress;
  const state = !d.enabled
    ? ": disabled by the operator"
    : refused !== undefined
      ? `: refused, not served: remove ${refused.address}/128 from ${refused.interface}, or set another ipv6Suffix for ${d.name}`
      : d.waitingFor === "device" || d.waitingFor === "own-address"
        ? `: waiting for its ${d.waitingFor === "device" ? "address" : "own IPv6 address"}: ${d.detail ?? ""}`
        : "";
  const own =
    refused !== undefined
      ? `, own IPv6 ${refused.address} on ${refused.interface} (in use by something else: not added by sixgate)`
      : d.ownAddress === undefined
        ? ""
        : `, own IPv6 ${d.ownAddress.address} on ${d.ownAddress.interface} (${d.ownAddress.state})`;
  return `# device ${d.name}: ${where}${own}, ${d.listeners.length} listeners${state}`;
}
