// Lease files: dnsmasq's and odhcpd's, each recognised from its content. Pure: text in, leases out.
// A line that fits no record of the file's format is skipped and counted (badLines), never fatal: a file caught
// half-written costs a line, not the device.
import { isIPv4, normalizeMac, parseIPv4 } from "./addr.js";
import type { Lease } from "./types.js";

/** The formats we read. */
export type LeaseFormat = "dnsmasq" | "odhcpd";

/** What a file in no format we read is called, wherever it is reported (status reason, log, doctor). */
export const UNRECOGNISED_FORMAT = "unrecognised format (neither dnsmasq nor odhcpd)";

/**
 * What became of one lease file: its format, or "empty" (nothing but blanks), "unknown" (content in no format we
 * read: never taken for "no lease"), "missing" (no such file) or "unreadable" (the read failed; `error` says why).
 */
export interface LeaseFileReport {
  file: string;
  format: LeaseFormat | "empty" | "unknown" | "missing" | "unreadable";
  /** IPv4 leases taken from it. */
  leases: number;
  /** Lines skipped because they fit no record of its format. */
  badLines: number;
  error?: string;
}

export interface ParsedLeases {
  leases: Lease[];
  badLines: number;
}

/** The result of one line: a lease, a record we know and skip on purpose (an IPv6 lease, a hosts line), or junk. */
type LineResult = Lease | "skip" | "bad";

// The expiry is a time_t in seconds; a digit string past 2^53 (a garbled line) is no time at all.
const seconds = (text: string): number => (/^[0-9]{1,16}$/.test(text) ? Number(text) : NaN);

function dnsmasqLine(line: string): LineResult {
  const [expiry = "", mac = "", address = "", hostname] = line.trim().split(/\s+/);
  const normalized = normalizeMac(mac);
  const expires = seconds(expiry);
  if (!Number.isSafeInteger(expires) || normalized === undefined || !isIPv4(address)) return "bad";
  return { mac: normalized, address, hostname: hostname ?? "*", expires };
}

/**
 * dnsmasq's lease file (dnsmasq src/lease.c, lease_update_file): one IPv4 lease a line,
 * "<expiry> <mac> <ip> <hostname> <client-id>", "*" for an absent hostname or client id; expiry 0 is an infinite
 * lease. A "duid <server-duid>" line starts the IPv6 leases, which are ignored: the device is IPv4-only.
 */
export function parseDnsmasqLeases(text: string): ParsedLeases {
  const leases: Lease[] = [];
  let badLines = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    if (line.trim().split(/\s+/)[0] === "duid") break;
    const result = dnsmasqLine(line);
    if (result === "bad") badLines++;
    else if (result !== "skip") leases.push(result);
  }
  return { leases, badLines };
}

/**
 * odhcpd's MAC: ether_ntoa's unpadded form ("2:0:0:0:1:0", odhcpd since 2025-11) or the hex string older versions
 * wrote ("020000000100"), normalised to 02:00:00:00:01:00.
 */
function odhcpdMac(text: string): string | undefined {
  const groups = /^[0-9A-Fa-f]{12}$/.test(text) ? text.match(/../g) : text.split(":");
  if (groups?.length !== 6 || !groups.every((g) => /^[0-9A-Fa-f]{1,2}$/.test(g))) return undefined;
  return normalizeMac(groups.map((g) => g.padStart(2, "0")).join(":"));
}

/** odhcpd's valid_until: wall-clock seconds, -1 for an infinite lease, 0 for one already expired. */
const odhcpdExpiry = (text: string): number => (text === "-1" ? -1 : seconds(text));

const HEX = /^[0-9A-Fa-f]+$/;

function odhcpdLine(line: string): LineResult {
  const fields = line.trim().split(/\s+/);
  const [hash, iface = "", id = "", kind = "", hostname = "", validUntil = "", hexAddress = "", length = ""] =
    fields;
  if (hash !== "#") {
    // Older odhcpd wrote its hosts lines ("<address>\t<name>[\t<fqdn>]") into the same file; dnsmasq reads them.
    const isAddress = isIPv4(fields[0] ?? "") || /^[0-9A-Fa-f:.]+:[0-9A-Fa-f:.]*$/.test(fields[0] ?? "");
    return isAddress && fields.length >= 2 ? "skip" : "bad";
  }
  if (iface === "" || !Number.isSafeInteger(odhcpdExpiry(validUntil))) return "bad";
  if (kind !== "ipv4") {
    // An IPv6 lease: "# <iface> <duid> <iaid> <hostname> <valid_until> <assigned_id> <length> [<addr>/<len> ...]".
    return HEX.test(id) && HEX.test(kind) && HEX.test(hexAddress) && /^[0-9]{1,3}$/.test(length)
      ? "skip"
      : "bad";
  }
  const mac = odhcpdMac(id);
  const address = fields[8]?.endsWith("/32") === true ? fields[8].slice(0, -3) : "";
  const value = parseIPv4(address);
  // The hex field repeats the address (host order, unpadded): a line whose two disagree is garbled.
  if (mac === undefined || value === undefined || fields.length !== 9 || length !== "32") return "bad";
  if (!HEX.test(hexAddress) || parseInt(hexAddress, 16) !== value) return "bad";
  const expires = odhcpdExpiry(validUntil);
  if (expires === 0) return "skip"; // expired: odhcpd keeps no such lease, but a line may still say so
  return { mac, address, hostname: hostname === "-" ? "*" : hostname, expires: expires === -1 ? 0 : expires };
}

/**
 * odhcpd's lease state file (OpenWrt: `option leasefile`, usually /tmp/hosts/odhcpd), as written by
 * statefiles_write_state4/6 in openwrt/odhcpd src/statefiles.c (commit 68f3826, 2026-06; before 2025-11 the same
 * lines came from dhcpv6_write_statefile in src/dhcpv6-ia.c):
 *
 *   IPv4: `# <iface> <mac> ipv4 <hostname> <valid_until> <hexaddr> 32 <addr>/32`
 *   IPv6: `# <iface> <hexduid> <hexiaid> <hostname> <valid_until> <assigned_id> <length> [<addr>/<len> ...]`
 *
 * `<mac>` is ether_ntoa's unpadded form ("2:0:0:0:1:0"; older versions wrote "020000000100"); `<hostname>` is "-"
 * when absent, escaped as \xNN, and prefixed "broken\x20" when invalid; `<valid_until>` is wall-clock seconds, -1
 * infinite (our 0), 0 expired (skipped). `<hexaddr>` is the address as a host-order number in hex. IPv6 leases are
 * skipped (the device is IPv4-only), as are the hosts lines ("<addr>\t<name>") older versions wrote into the file.
 */
export function parseOdhcpdLeases(text: string): ParsedLeases {
  const leases: Lease[] = [];
  let badLines = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const result = odhcpdLine(line);
    if (result === "bad") badLines++;
    else if (result !== "skip") leases.push(result);
  }
  return { leases, badLines };
}

/** The format a line proves: an IPv4 lease or the IPv6 header of dnsmasq, a lease record of odhcpd; else none. */
function lineFormat(line: string): LeaseFormat | undefined {
  if (/^\s*duid\s+[0-9A-Fa-f:]+\s*$/.test(line) || dnsmasqLine(line) !== "bad") return "dnsmasq";
  if (/^\s*#/.test(line) && odhcpdLine(line) !== "bad") return "odhcpd";
  return undefined;
}

/**
 * Recognises a lease file's format from its content and reads its IPv4 leases. The first line that is a record of
 * one format decides (so a garbled first line costs only itself); every line is then read as that format. Blank
 * content is "empty"; content in which no line is a record of either format is "unknown", with no leases.
 */
export function parseLeaseFile(text: string): { format: LeaseFormat | "empty" | "unknown" } & ParsedLeases {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  if (lines.length === 0) return { format: "empty", leases: [], badLines: 0 };
  let format: LeaseFormat | undefined;
  for (const line of lines) {
    format = lineFormat(line);
    if (format !== undefined) break;
  }
  if (format === undefined) return { format: "unknown", leases: [], badLines: lines.length };
  return { format, ...(format === "dnsmasq" ? parseDnsmasqLeases(text) : parseOdhcpdLeases(text)) };
}
