// Every check, in the order a client's connection meets the hops, then the agent that keeps them; first the tools,
// without which the agent does not start.
import type { DeviceView, DoctorContext } from "../context.js";
import type { Check } from "../types.js";
import { agentCheck, mqttCheck } from "./agent.js";
import { deviceCheck, devicePortChecks } from "./device.js";
import { dnsChecks } from "./dns.js";
import { endToEndChecks } from "./end-to-end.js";
import { hostFirewallCheck } from "./host-firewall.js";
import { lanRouteCheck } from "./lan-route.js";
import { leaseFilesCheck } from "./lease-files.js";
import { linkCheck } from "./links.js";
import { listenerChecks } from "./listeners.js";
import { ownAddressChecks } from "./own-address.js";
import { deviceCheckId, deviceCheckTitle } from "./naming.js";
import { snatCheck } from "./snat.js";
import { toolsCheck } from "./tools.js";
import { wanAddressCheck } from "./wan-address.js";

/**
 * A device's checks under its name when the config lists several devices (`cam/device-port:80`, "cam: device port
 * 80"); the one-device shorthand keeps the plain ids and titles that scripts and 0.1 users read.
 */
function perDevice(ctx: DoctorContext, checks: (dv: DeviceView) => Check[]): Check[] {
  return ctx.devices.flatMap((dv) =>
    checks(dv).map((c) =>
      ctx.config.shorthand
        ? c
        : { ...c, id: deviceCheckId(ctx, dv, c.id), title: deviceCheckTitle(ctx, dv, c.title) },
    ),
  );
}

export function runChecks(ctx: DoctorContext): Check[] {
  return [
    toolsCheck(ctx),
    linkCheck(ctx, "wan"),
    wanAddressCheck(ctx),
    ...perDevice(ctx, (dv) => ownAddressChecks(ctx.config, dv.plan)),
    ...perDevice(ctx, (dv) => listenerChecks(ctx, dv)),
    hostFirewallCheck(ctx),
    linkCheck(ctx, "lan"),
    ...perDevice(ctx, (dv) => [lanRouteCheck(ctx, dv)]),
    leaseFilesCheck(ctx),
    ...perDevice(ctx, (dv) => [deviceCheck(ctx, dv), ...devicePortChecks(ctx, dv)]),
    snatCheck(ctx),
    ...perDevice(ctx, (dv) => endToEndChecks(ctx, dv)),
    agentCheck(ctx),
    ...dnsChecks(ctx),
    mqttCheck(ctx),
  ];
}
