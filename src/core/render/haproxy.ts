// Renders HAProxy's configuration for every listener: one `listen` section per listen port (IPv6 in on the WAN
// address, IPv4 out pinned to the LAN address and interface), and the stats socket the adapter reads.
// Keywords as documented for HAProxy 2.6 (configuration.txt); the output is checked with `haproxy -c` before use.
import type { ListenerSpec } from "../types.js";
import { KEEPALIVE_PROBES } from "./socat.js";

export interface HaproxyConfigInput {
  /** Every listener HAProxy is to serve; rendered in listen-port order, whatever order they come in. */
  specs: readonly ListenerSpec[];
  /** The runtime API's socket (`show stat`), an absolute path under runtimeDir. */
  statsSocket: string;
}

/**
 * A connection with no traffic either way is never closed unless idleTimeoutSec says so, as with socat. HAProxy
 * needs finite `timeout client`/`timeout server` (it warns without them, and they bound how long a worker replaced
 * by a reload lingers): 24 days, just below its largest timer (2^31 - 1 ms, about 24.8 days). Peers that vanished
 * are found much earlier by TCP keepalive (keepaliveSec).
 */
export const HAPROXY_IDLE_DEFAULT = "24d";

/** Runtime API sessions HAProxy admits beyond the listeners' own maxconn (the adapter uses one at a time). */
const STATS_SESSIONS = 8;

/**
 * The section name of a listener: it names the frontend and backend in `show stat` (pxname). A listen port is
 * unique across devices (the config refuses a shared one), so the port alone names it.
 */
export function proxyName(spec: Pick<ListenerSpec, "listen">): string {
  return `port-${spec.listen}`;
}

/** HAProxy takes a word up to the next blank; anything else here would change the configuration's meaning. */
function word(value: string, what: string): string {
  if (!/^[A-Za-z0-9_.:@%/-]+$/.test(value))
    throw new Error(`${what} ${JSON.stringify(value)} is not a plain word`);
  return value;
}

/** keepalive as render/socat.ts: idle time, KEEPALIVE_PROBES probes, idle/KEEPALIVE_PROBES apart (at least 1 s). */
function keepaliveLines(keepaliveSec: number): string[] {
  if (keepaliveSec === 0) return [];
  const interval = Math.max(1, Math.ceil(keepaliveSec / KEEPALIVE_PROBES));
  return [
    "option tcpka",
    ...(["cli", "srv"] as const).flatMap((side) => [
      `${side}tcpka-idle ${keepaliveSec}s`,
      `${side}tcpka-intvl ${interval}s`,
      `${side}tcpka-cnt ${KEEPALIVE_PROBES}`,
    ]),
  ];
}

function listenSection(spec: ListenerSpec): string[] {
  const idle = spec.idleTimeoutSec === null ? HAPROXY_IDLE_DEFAULT : `${spec.idleTimeoutSec}s`;
  const lines = [
    // v6only: the IPv4 side of the port stays free, as with socat's ipv6only=1.
    `bind [${word(spec.wanAddress, "wanAddress")}]:${spec.listen} v6only`,
    `maxconn ${spec.maxChildren}`,
    `backlog ${spec.backlog}`,
    `timeout connect ${Math.round(spec.connectTimeoutSec * 1000)}ms`,
    `timeout client ${idle}`,
    `timeout server ${idle}`,
    // After one side half-closed, the other may still send for halfCloseSec (socat -t): a slow device's answer.
    `timeout client-fin ${Math.round(spec.halfCloseSec * 1000)}ms`,
    `timeout server-fin ${Math.round(spec.halfCloseSec * 1000)}ms`,
    ...keepaliveLines(spec.keepaliveSec),
    // The device answers the gateway's LAN address, and the connection cannot leave through the WAN even if an
    // upstream network uses the LAN's subnet (socat: bind=, so-bindtodevice=).
    `server device ${word(spec.deviceAddress, "deviceAddress")}:${spec.target}` +
      ` source ${word(spec.lanAddress, "lanAddress")} interface ${word(spec.lanInterface, "lanInterface")}`,
  ];
  return [`listen ${proxyName(spec)}`, ...lines.map((l) => `    ${l}`)];
}

/**
 * The whole configuration file. No per-connection logging (it costs the data plane its speed); HAProxy's own alerts
 * go to its stderr, which the adapter logs. Throws when an address or interface name is not a plain word.
 */
export function renderHaproxyConfig(input: HaproxyConfigInput): string {
  const specs = [...input.specs].sort((a, b) => a.listen - b.listen);
  const maxconn = specs.reduce((sum, s) => sum + s.maxChildren, STATS_SESSIONS);
  return [
    "# Written by sixgate from its listeners; rewritten on every change: do not edit.",
    "global",
    `    stats socket ${word(input.statsSocket, "statsSocket")} mode 600 level admin`,
    `    maxconn ${maxconn}`,
    "",
    "defaults",
    "    mode tcp",
    ...specs.flatMap((s) => ["", ...listenSection(s)]),
    "",
  ].join("\n");
}
