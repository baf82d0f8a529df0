// Device address known (and from which source); device answering on each target port from the LAN address, on the
// LAN interface (pinned as the listener's own connection is).
import { leaseFiles } from "../../config/schema.js";
import type { DeviceView, DoctorContext } from "../context.js";
import type { Check } from "../types.js";
import { deviceField } from "./naming.js";
import { connectProblem } from "./probe-text.js";
import { expandPorts } from "../../core/ports.js";

export function deviceCheck(ctx: DoctorContext, dv: DeviceView): Check {
  const id = "device";
  const title = "Device address";
  const { address, mac, source } = dv.plan.device;
  const macField = deviceField(ctx, dv, "mac");
  const addressField = deviceField(ctx, dv, "address");
  const files = leaseFiles(ctx.config);
  const leases = files.join(", ");
  if (address === undefined) {
    const why = dv.plan.detail ?? "not known";
    const many = /leases on the LAN/.test(why) && /set device\.mac/.test(why);
    const unrecognised = /unrecognised format/.test(why);
    return {
      id,
      title,
      status: "fail",
      detail: `device address unknown: ${why} (lease file${files.length === 1 ? "" : "s"} ${leases})`,
      fix: many
        ? `set ${macField} in the config to the device's MAC address`
        : unrecognised
          ? "see the lease-files check: point leases at a dnsmasq or odhcpd lease file"
          : `check the device is powered and takes a DHCP lease on ${ctx.config.lan.interface} (the DHCP server writes ${leases}), ` +
            "or, with a static address, that it has talked on the LAN lately (it then shows in `ip neigh`); " +
            `or set ${addressField} to its static address`,
    };
  }
  const from = {
    config: `from ${addressField} in the config`,
    "lease-mac": `from the DHCP lease of ${mac ?? "?"} in ${leases}`,
    "lease-single": `the only DHCP lease in ${leases}${mac === undefined ? "" : ` (MAC ${mac})`}`,
    neighbour: `from ${ctx.config.lan.interface}'s neighbour table (MAC ${mac ?? "?"}; a static address)`,
    unknown: "source unknown",
  }[source ?? "unknown"];
  const detail = ctx.facts.devices[dv.plan.name]?.detail;
  const note = detail === undefined ? "" : `; ${detail}`;
  const agentAddress = ctx.agent.status?.devices.find((d) => d.name === dv.plan.name)?.address ?? null;
  if (agentAddress !== null && agentAddress !== address) {
    return {
      id,
      title,
      status: "warn",
      detail: `the agent proxies to ${agentAddress}, but the device is now ${address} (${from})`,
      fix: "the agent follows lease changes at once; if this persists, run `sixgate notify dhcp action=update` or restart the agent",
    };
  }
  return { id, title, status: "ok", detail: `${address}, ${from}${note}` };
}

export function devicePortChecks(ctx: DoctorContext, dv: DeviceView): Check[] {
  const ports = expandPorts(dv.plan.ports);
  const targets = [...new Set(ports.map((p) => p.target))].sort((a, b) => a - b);
  const device = dv.plan.device.address;
  const lanAddress = dv.plan.lanAddress;
  const lan = ctx.config.lan.interface;
  return targets.map((target): Check => {
    const id = `device-port:${target}`;
    const title = `Device port ${target}`;
    if (device === undefined || lanAddress === undefined)
      return { id, title, status: "skip", detail: "needs the device and LAN addresses (see above)" };
    const probe = dv.deviceProbes.get(target);
    if (probe === undefined) return { id, title, status: "skip", detail: "not probed" };
    if (probe.ok)
      return {
        id,
        title,
        status: "ok",
        detail: `${device}:${target} accepts connections from ${lanAddress} on ${lan} (${probe.ms} ms)`,
      };
    const problem = connectProblem(probe.error ?? "failed", device, target);
    const listens = ports.filter((p) => p.target === target).map((p) => p.listen);
    return {
      id,
      title,
      status: "fail",
      detail: `${device}:${target} from ${lanAddress} on ${lan}: ${problem}`,
      fix: /refused/.test(problem)
        ? `start the service on the device, or correct the mapping (ports[] with listen ${listens.join(", ")} -> target ${target})`
        : `check the device is on and at ${device}, and that its own firewall lets ${lanAddress} connect to port ${target}`,
    };
  });
}
