// `ss -H -l -t -n -p`: which sockets listen on which address and port, and which processes hold them.
import { canonicalIPv6 } from "../../core/addr.js";

export interface SocketOwner {
  name: string;
  pid: number;
}

export interface ListeningSocket {
  /** "inet6" = IPv6 only, "inet" = IPv4, "any" = the dual-stack wildcard that ss prints as "*". */
  family: "inet" | "inet6" | "any";
  /** Canonical IPv6 or dotted IPv4; "::" / "0.0.0.0" / "*" for wildcards. */
  address: string;
  port: number;
  /** The interface of a socket bound to one (SO_BINDTODEVICE), printed as "addr%dev". */
  device: string | undefined;
  /** Empty when ss could not tell (not root). */
  owners: SocketOwner[];
}

const LOCAL = /^(?:\[([^\]]+)\]|([^\s%]+?))(?:%(\S+))?:(\d+)$/;
const OWNER = /\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=\d+\)/g;

function parseLocal(local: string): Omit<ListeningSocket, "owners"> | undefined {
  const m = LOCAL.exec(local);
  if (m === null) return undefined;
  const raw = m[1] ?? m[2] ?? "";
  const port = Number(m[4]);
  const device = m[3];
  if (raw === "*") return { family: "any", address: "*", port, device };
  if (raw.includes(":")) {
    // A scoped address may carry its zone inside the brackets too: [fe80::1%wan0].
    const [address = "", zone] = raw.split("%");
    return { family: "inet6", address: canonicalIPv6(address) ?? address, port, device: device ?? zone };
  }
  return { family: "inet", address: raw, port, device };
}

/** Parses listening TCP sockets; lines it does not understand are skipped. */
export function parseSsListening(text: string): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    // State Recv-Q Send-Q Local Peer [Process]
    if (fields.length < 5 || fields[0] !== "LISTEN") continue;
    const local = parseLocal(fields[3] ?? "");
    if (local === undefined) continue;
    const process = fields.slice(5).join(" ");
    const owners = [...process.matchAll(OWNER)].map((m) => ({ name: m[1] ?? "?", pid: Number(m[2]) }));
    out.push({ ...local, owners });
  }
  return out;
}

export interface PendingConnect {
  /** The source, as bound: "192.168.1.1" with device "lan0" for socat's pinned connection. */
  local: Omit<ListeningSocket, "owners">;
  remoteAddress: string;
  remotePort: number;
}

/**
 * `ss -H -t -n state syn-sent`: connections still waiting for the far end's SYN-ACK. With a state filter ss drops
 * the State column: Recv-Q Send-Q Local Peer.
 */
export function parseSynSent(text: string): PendingConnect[] {
  const out: PendingConnect[] = [];
  for (const line of text.split("\n")) {
    const [, , local, peer] = line.trim().split(/\s+/);
    const l = parseLocal(local ?? "");
    const r = parseLocal(peer ?? "");
    if (l === undefined || r === undefined) continue;
    out.push({ local: l, remoteAddress: r.address, remotePort: r.port });
  }
  return out;
}

/**
 * Target ports to which a connection made as the listener makes it (from the LAN address, pinned to the LAN
 * interface with so-bindtodevice) still waits for an answer. The agent's health probe connects the same way, so it
 * counts too: either one waiting means the device does not answer what the listener sends. Unpinned connections from
 * the same address (any other program) do not count: the routing table may send them elsewhere.
 */
export function stuckListenerConnects(
  pending: readonly PendingConnect[],
  from: { address: string; device: string },
  device: string,
): Set<number> {
  const out = new Set<number>();
  for (const c of pending)
    if (c.local.address === from.address && c.local.device === from.device && c.remoteAddress === device)
      out.add(c.remotePort);
  return out;
}

/**
 * True when the socket keeps an IPv6-only listener (socat's ipv6only=1) from binding [address]:port: the same
 * address, or a wildcard that covers IPv6. An IPv4-only socket on the same port is no obstacle.
 */
export function blocksIPv6Bind(s: ListeningSocket, address: string, port: number): boolean {
  if (s.port !== port) return false;
  if (s.family === "any") return true;
  if (s.family !== "inet6") return false;
  return s.address === "::" || s.address === (canonicalIPv6(address) ?? address);
}

export function formatSocket(s: ListeningSocket): string {
  const host = s.family === "inet6" ? `[${s.address}]` : s.address;
  return `${host}${s.device === undefined ? "" : `%${s.device}`}:${s.port}`;
}

export function formatOwners(owners: readonly SocketOwner[]): string {
  if (owners.length === 0) return "an unknown process";
  return [...new Map(owners.map((o) => [o.pid, o])).values()]
    .map((o) => `${o.name} (pid ${o.pid})`)
    .join(", ");
}
