// One-shot observation for `plan` and doctor: the same snapshot and lease read the agent uses, folded by the same
// core, starting from the running agent's choices so that the answer is the agent's.
import type { Logger } from "pino";
import { leaseFiles } from "../config/schema.js";
import { unknownDevice } from "../core/device.js";
import { initialFacts, reduce } from "../core/facts.js";
import { plan } from "../core/plan.js";
import type { AgentStatus } from "../core/status.js";
import type { Config, Facts, Plan } from "../core/types.js";
import { runChecked, type Runner } from "../effects/exec.js";
import { loadOperatorChoices } from "../effects/state-store.js";
import { readLeases } from "../sources/leases.js";
import { readNeighbours } from "../sources/neighbours.js";
import { parseIpAddrJson } from "../sources/ip-addr.js";
import { readStatus, runningAgentPid } from "./runtime.js";

/**
 * The facts a fresh observation starts from. The core's choices are sticky only between equals (the WAN address in
 * use among equally ranked ones, the last known device while its lease is gone), so a fresh observation agrees with
 * the agent once it starts from the agent's choices: those in its status, else the persisted operator state.
 */
export function seededFacts(
  status: AgentStatus | undefined,
  persisted: { enabled: boolean; ports: Facts["ports"] },
): Facts {
  const device =
    status?.device.address == null
      ? unknownDevice
      : {
          mac: status.device.mac ?? undefined,
          address: status.device.address,
          source: status.device.source ?? undefined,
          detail: undefined,
        };
  return {
    ...initialFacts,
    wanAddress: status?.wan.address ?? undefined,
    device,
    enabled: status?.enabled ?? persisted.enabled,
    ports:
      status === undefined ? persisted.ports : status.portsSource === "runtime" ? status.ports : undefined,
  };
}

export async function observePlan(config: Config, runner: Runner, log: Logger): Promise<Plan> {
  const links = parseIpAddrJson((await runChecked(runner, ["ip", "-json", "addr", "show"])).stdout);
  const pid = await runningAgentPid(config.runtimeDir);
  const status = pid === undefined ? undefined : await readStatus(config.runtimeDir);
  const persisted = await loadOperatorChoices(config, log);
  let state = { config, facts: seededFacts(status, persisted) };
  state = reduce(state, { type: "links", links });
  state = reduce(state, await readLeases(leaseFiles(config), log));
  const neighbours =
    config.device.mac === undefined ? undefined : await readNeighbours(runner, config.lan.interface, log);
  if (neighbours !== undefined) state = reduce(state, neighbours);
  return plan(state.facts, state.config);
}
