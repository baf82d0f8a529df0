// Renders a listener spec as socat's argv: IPv6 in on the WAN address, IPv4 out pinned to the LAN.
import type { ListenerSpec } from "../types.js";

/**
 * The IPv4 leg binds the LAN address and the LAN interface: the device answers the gateway's LAN address,
 * and the connection cannot leave through the WAN even if an upstream network uses the LAN's subnet.
 * `-d -d` makes socat announce "listening on", which tells the supervisor the port is bound.
 */
export function renderSocatArgv(spec: ListenerSpec, socat = "socat"): string[] {
  const listen = [
    `TCP6-LISTEN:${spec.listen}`,
    `bind=[${spec.wanAddress}]`,
    "ipv6only=1",
    "fork",
    "reuseaddr",
    `max-children=${spec.maxChildren}`,
    `backlog=${spec.backlog}`,
  ].join(",");
  const connect = [
    `TCP4:${spec.deviceAddress}:${spec.target}`,
    `bind=${spec.lanAddress}`,
    `so-bindtodevice=${spec.lanInterface}`,
    `connect-timeout=${spec.connectTimeoutSec}`,
  ].join(",");
  return [socat, "-d", "-d", listen, connect];
}
