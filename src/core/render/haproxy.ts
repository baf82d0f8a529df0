// Renders HAProxy's configuration for every listener: one `listen` section per listen port, or per range of ports
// (IPv6 in on the WAN address, IPv4 out pinned to the LAN address and interface), and the stats socket the adapter
// reads.
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

/** One `listen` section: one listener, or a run of consecutive ports of a range served as one frontend. */
export interface HaproxySection {
  /** Its name in `show stat` (pxname): `port-80`, or `ports-8000-8010` for a run of a range. */
  name: string;
  /** Its listeners in listen-port order; more than one only for ports of a range (ListenerSpec.range). */
  specs: ListenerSpec[];
}

/** Everything but the ports: specs equal in this (and of a range) can share a section. */
const shared = (s: ListenerSpec): string =>
  JSON.stringify([
    s.device,
    s.target - s.listen,
    s.wanAddress,
    s.deviceAddress,
    s.lanAddress,
    s.lanInterface,
    s.maxChildren,
    s.backlog,
    s.connectTimeoutSec,
    s.keepaliveSec,
    s.idleTimeoutSec,
    s.halfCloseSec,
  ]);

/**
 * The sections of a set of listeners, in listen-port order. Consecutive ports of a range with the same device, port
 * offset and settings are one section (a range given partly, as while its listeners start, is one per run); any
 * other listener has its own. A listen port is unique across devices (the config refuses a shared one), so the port
 * names a section.
 */
export function haproxySections(specs: readonly ListenerSpec[]): HaproxySection[] {
  const sorted = [...specs].sort((a, b) => a.listen - b.listen);
  const runs: ListenerSpec[][] = [];
  for (const spec of sorted) {
    const run = runs.at(-1);
    const last = run?.at(-1);
    if (
      run !== undefined &&
      last?.range === true &&
      spec.range === true &&
      spec.listen === last.listen + 1 &&
      shared(spec) === shared(last)
    )
      run.push(spec);
    else runs.push([spec]);
  }
  return runs.map((run) => {
    const first = run[0]?.listen ?? 0;
    const last = run.at(-1)?.listen ?? first;
    return { name: first === last ? `port-${first}` : `ports-${first}-${last}`, specs: run };
  });
}

/** HAProxy takes a word up to the next blank; anything else here would change the configuration's meaning. */
function word(value: string, what: string): string {
  if (!/^[A-Za-z0-9_.:@%/-]+$/.test(value))
    throw new Error(`${what} ${JSON.stringify(value)} is not a plain word`);
  return value;
}

/**
 * keepalive as render/socat.ts: idle time, KEEPALIVE_PROBES probes, idle/KEEPALIVE_PROBES apart (at least 1 s).
 * HAProxy sets these on each connection's two sockets (8 setsockopt calls; a socket option on the listener would
 * be inherited, but HAProxy 2.6 has none for keepalive). Measured in the lab (bench/dataplane.ts's gateway CPU per
 * new connection): about 3-4 us of HAProxy's 45, the one cost this file adds to a hand-written TCP proxy that
 * shows (source ... interface is one more call).
 */
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

/**
 * The server's address and port: the target port for one listener; for a range, the offset from the port the client
 * connected to (HAProxy's `addr:+N` / `addr:-N`), or none when listen and target are the same port (then HAProxy
 * connects to the client's destination port).
 */
function serverAddress(section: HaproxySection, spec: ListenerSpec): string {
  const address = word(spec.deviceAddress, "deviceAddress");
  if (section.specs.length === 1) return `${address}:${spec.target}`;
  const offset = spec.target - spec.listen;
  return offset === 0 ? address : `${address}:${offset > 0 ? "+" : ""}${offset}`;
}

function listenSection(section: HaproxySection): string[] {
  const [spec] = section.specs;
  if (spec === undefined) return [];
  const last = section.specs.at(-1)?.listen ?? spec.listen;
  const range = section.specs.length > 1;
  const idle = spec.idleTimeoutSec === null ? HAPROXY_IDLE_DEFAULT : `${spec.idleTimeoutSec}s`;
  const lines = [
    // v6only: the IPv4 side of the port stays free, as with socat's ipv6only=1. A range binds one socket per port,
    // each with maxChildren connections at most (the bind's maxconn), as a socat per port would.
    range
      ? `bind [${word(spec.wanAddress, "wanAddress")}]:${spec.listen}-${last} v6only maxconn ${spec.maxChildren}`
      : `bind [${word(spec.wanAddress, "wanAddress")}]:${spec.listen} v6only`,
    // A row per port (per listening socket) in `show stat`, with its address: each port's connection count.
    ...(range ? ["option socket-stats"] : []),
    `maxconn ${spec.maxChildren * section.specs.length}`,
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
    `server device ${serverAddress(section, spec)}` +
      ` source ${word(spec.lanAddress, "lanAddress")} interface ${word(spec.lanInterface, "lanInterface")}`,
  ];
  return [`listen ${section.name}`, ...lines.map((l) => `    ${l}`)];
}

/**
 * The whole configuration file. No per-connection logging (it costs the data plane its speed); HAProxy's own alerts
 * go to its stderr, which the adapter logs. Throws when an address or interface name is not a plain word.
 */
export function renderHaproxyConfig(input: HaproxyConfigInput): string {
  const maxconn = input.specs.reduce((sum, s) => sum + s.maxChildren, STATS_SESSIONS);
  return [
    "# Written by sixgate from its listeners; rewritten on every change: do not edit.",
    "global",
    `    stats socket ${word(input.statsSocket, "statsSocket")} mode 600 level admin`,
    `    maxconn ${maxconn}`,
    "",
    "defaults",
    "    mode tcp",
    ...haproxySections(input.specs).flatMap((s) => ["", ...listenSection(s)]),
    "",
  ].join("\n");
}
