// Every check, in the order a client's connection meets the hops, then the agent that keeps them; first the tools,
// without which the agent does not start.
import type { DoctorContext } from "../context.js";
import type { Check } from "../types.js";
import { agentCheck, mqttCheck } from "./agent.js";
import { deviceCheck, devicePortChecks } from "./device.js";
import { endToEndChecks } from "./end-to-end.js";
import { hostFirewallCheck } from "./host-firewall.js";
import { lanRouteCheck } from "./lan-route.js";
import { leaseFilesCheck } from "./lease-files.js";
import { linkCheck } from "./links.js";
import { listenerChecks } from "./listeners.js";
import { snatCheck } from "./snat.js";
import { toolsCheck } from "./tools.js";
import { wanAddressCheck } from "./wan-address.js";

export function runChecks(ctx: DoctorContext): Check[] {
  return [
    toolsCheck(ctx),
    linkCheck(ctx, "wan"),
    wanAddressCheck(ctx),
    ...listenerChecks(ctx),
    hostFirewallCheck(ctx),
    linkCheck(ctx, "lan"),
    lanRouteCheck(ctx),
    leaseFilesCheck(ctx),
    deviceCheck(ctx),
    ...devicePortChecks(ctx),
    snatCheck(ctx),
    ...endToEndChecks(ctx),
    agentCheck(ctx),
    mqttCheck(ctx),
  ];
}
