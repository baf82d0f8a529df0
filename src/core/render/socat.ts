// Renders socat's argv: a listener (IPv6 in on the WAN address, IPv4 out pinned to the LAN), and a one-shot probe
// that makes the listener's IPv4 connection on its own.
import type { ListenerSpec } from "../types.js";

/** What the IPv4 leg to the device needs. */
export type DeviceLeg = Pick<
  ListenerSpec,
  "deviceAddress" | "target" | "lanAddress" | "lanInterface" | "connectTimeoutSec"
>;

/**
 * The IPv4 leg binds the LAN address and the LAN interface: the device answers the gateway's LAN address,
 * and the connection cannot leave through the WAN even if an upstream network uses the LAN's subnet.
 */
function renderDeviceLeg(leg: DeviceLeg): string {
  return [
    `TCP4:${leg.deviceAddress}:${leg.target}`,
    `bind=${leg.lanAddress}`,
    `so-bindtodevice=${leg.lanInterface}`,
    `connect-timeout=${leg.connectTimeoutSec}`,
  ].join(",");
}

/** Keepalive probes after the idle time: this many, KEEPALIVE_PROBES per idle time apart. */
export const KEEPALIVE_PROBES = 4;

/**
 * TCP keepalive socket options (socat(1): keepalive, keepidle, keepintvl, keepcnt). A peer that vanished without
 * FIN or RST (a phone changing networks, a NAT timeout) is found dead at most 2 × keepaliveSec after the last
 * packet, and its connection (a socat child, one of max-children) ends. On the listen address they are set on the
 * listening socket, and Linux passes them on to every accepted one.
 */
export function renderKeepalive(keepaliveSec: number): string[] {
  if (keepaliveSec === 0) return [];
  const interval = Math.max(1, Math.ceil(keepaliveSec / KEEPALIVE_PROBES));
  return ["keepalive", `keepidle=${keepaliveSec}`, `keepintvl=${interval}`, `keepcnt=${KEEPALIVE_PROBES}`];
}

/**
 * No `-d`: socat then logs only errors (a failed connection to the device, a port already taken), nothing per
 * connection that went well; each logged line costs the listener a write and the agent a read, which made sixgate's
 * socat a quarter slower than socat run by hand. The supervisor sees the port bound in /proc instead of waiting for
 * the "listening on" notice (effects/listeners/bound.ts). `-t` is how long a
 * connection lives on after one side half-closed: a client that sends its request and shuts down its sending side
 * (`nc -N`, HTTP/1.0 tools, PLC scripts) still gets an answer the device sends within halfCloseSec (socat's own
 * default, 0.5 s, loses a slow device's answer). `-T` ends a connection (a forked child) with no traffic either
 * way for idleTimeoutSec.
 */
export function renderSocatArgv(spec: ListenerSpec, socat = "socat"): string[] {
  const keepalive = renderKeepalive(spec.keepaliveSec);
  const listen = [
    `TCP6-LISTEN:${spec.listen}`,
    `bind=[${spec.wanAddress}]`,
    "ipv6only=1",
    "fork",
    "reuseaddr",
    `max-children=${spec.maxChildren}`,
    `backlog=${spec.backlog}`,
    ...keepalive,
  ].join(",");
  const idle = spec.idleTimeoutSec === null ? [] : ["-T", String(spec.idleTimeoutSec)];
  return [
    socat,
    "-t",
    String(spec.halfCloseSec),
    ...idle,
    listen,
    [renderDeviceLeg(spec), ...keepalive].join(","),
  ];
}

/**
 * Connects to the device the way a listener does, sends nothing and closes: exit 0 when the device accepted. Node
 * cannot pin a socket to an interface (SO_BINDTODEVICE), so the health probe of this hop goes through socat.
 */
export function renderProbeArgv(leg: DeviceLeg, socat = "socat"): string[] {
  return [socat, "-u", "OPEN:/dev/null", renderDeviceLeg(leg)];
}
