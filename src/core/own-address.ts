// A device's own IPv6 address (`ipv6: own`): the /64 prefix of the gateway's listen address plus the device's
// interface identifier (its `ipv6Suffix`, else one derived from its name). Pure: no I/O, no clock.
import { canonicalIPv6, parseIPv6 } from "./addr.js";
import type { AddrInfo, DeviceConfig, LinkInfo, OwnAddress, OwnAddressState } from "./types.js";

/** The low 64 bits of an address (its interface identifier), or undefined for text that is no IPv6 literal. */
export function interfaceId(address: string): bigint | undefined {
  const groups = parseIPv6(address);
  if (groups === undefined) return undefined;
  return groups.slice(4).reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** A suffix as `ipv6Suffix` takes it: an IPv6 literal whose high 64 bits are zero and low 64 bits are not. */
export function parseSuffix(text: string): bigint | undefined {
  const groups = parseIPv6(text);
  if (groups === undefined || groups.slice(0, 4).some((g) => g !== 0)) return undefined;
  const iid = interfaceId(text);
  return iid === 0n ? undefined : iid;
}

/** The address made of the first 64 bits of `prefixOf` and the interface identifier `iid`, canonical. */
export function withInterfaceId(prefixOf: string, iid: bigint): string | undefined {
  const groups = parseIPv6(prefixOf);
  if (groups === undefined) return undefined;
  const low = [48n, 32n, 16n, 0n].map((shift) => Number((iid >> shift) & 0xffffn));
  return canonicalIPv6([...groups.slice(0, 4), ...low].map((g) => g.toString(16)).join(":"));
}

/** A suffix as text ("::80"), the way `ipv6Suffix` is written. */
export const formatSuffix = (iid: bigint): string => withInterfaceId("::", iid) ?? "::";

const MASK64 = (1n << 64n) - 1n;
const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;

/** FNV-1a, 64 bits (http://www.isthe.com/chongo/tech/comp/fnv/), over the text's UTF-16 code units' low bytes. */
function fnv1a64(text: string): bigint {
  let hash = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) {
    hash ^= BigInt(text.charCodeAt(i) & 0xff);
    hash = (hash * FNV_PRIME) & MASK64;
  }
  return hash;
}

/** The u (universal/local) and g (individual/group) bits of an interface identifier (RFC 4291 appendix A). */
const UG_BITS = 0x03n << 56n;

/**
 * Candidate `attempt` (0, 1, ...) of the derived suffix of device `name`: FNV-1a 64 of "sixgate:<name>" (attempt
 * 0) or "sixgate:<name>:<attempt>", with the u and g bits cleared. A cleared u bit never equals a SLAAC (EUI-64)
 * identifier made from a globally unique MAC, whose u bit is set; a cleared g bit keeps it out of RFC 5453's reserved
 * anycast identifiers (fdff:ffff:ffff:ff80-ffff).
 */
export function derivedCandidate(name: string, attempt: number): bigint {
  const text = attempt === 0 ? `sixgate:${name}` : `sixgate:${name}:${attempt}`;
  return fnv1a64(text) & ~UG_BITS;
}

/** Identifiers a derived suffix never takes: zero (the subnet-router anycast) and ISATAP's 0000:5efe (RFC 5214). */
const reserved = (iid: bigint) => iid === 0n || iid >> 32n === 0x5efen;

/** An address of the gateway's own on the interface: every address but a /128 (ours are added as /128). */
const gatewaysOwn = (a: AddrInfo) => a.family === "inet6" && a.prefixlen !== 128;

/**
 * The interface identifier of each `ipv6: own` device, by name: its `ipv6Suffix`, else derived from its name
 * (derivedCandidate, the first candidate that is not reserved, not another device's and not the identifier of one of
 * the gateway's own addresses on `link`, i.e. any but a /128). Configured suffixes are taken first, then derived ones
 * in config order; the config refuses two equal configured ones. Depends only on the names, the configured suffixes
 * and the gateway's own addresses, so it is the same across restarts and renumberings.
 */
export function ownSuffixes(
  devices: readonly DeviceConfig[],
  link: LinkInfo | undefined,
): Map<string, bigint> {
  const own = devices.filter((d) => d.ipv6 === "own");
  const taken = new Set<bigint>();
  for (const a of link?.addresses.filter(gatewaysOwn) ?? []) {
    const iid = interfaceId(a.address);
    if (iid !== undefined) taken.add(iid);
  }
  const result = new Map<string, bigint>();
  for (const d of own) {
    const iid = d.ipv6Suffix === undefined ? undefined : parseSuffix(d.ipv6Suffix);
    if (iid === undefined) continue;
    result.set(d.name, iid);
    taken.add(iid);
  }
  for (const d of own) {
    if (result.has(d.name)) continue;
    // Bounded: each attempt collides with probability about (taken / 2^62).
    for (let attempt = 0; attempt < 64; attempt++) {
      const iid = derivedCandidate(d.name, attempt);
      if (reserved(iid) || taken.has(iid)) continue;
      result.set(d.name, iid);
      taken.add(iid);
      break;
    }
  }
  return result;
}

/**
 * True for an address the WAN address choice must pass over: a /128 whose identifier is a device's own (ours, added by
 * the agent), so a device's address is never taken for the gateway's listen address.
 */
export function isDeviceAddress(a: AddrInfo, suffixes: ReadonlyMap<string, bigint>): boolean {
  if (a.family !== "inet6" || a.prefixlen !== 128 || suffixes.size === 0) return false;
  const iid = interfaceId(a.address);
  return iid !== undefined && [...suffixes.values()].includes(iid);
}

/** What the kernel says of an address on the link: absent, tentative (DAD running), dadfailed or valid. */
export function ownAddressState(link: LinkInfo | undefined, address: string): OwnAddressState {
  const found = link?.addresses.find((a) => a.family === "inet6" && a.address === address);
  if (found === undefined) return "absent";
  if (found.dadfailed) return "dadfailed";
  if (found.tentative) return "tentative";
  return "valid";
}

/**
 * Why the gateway's listen address gives no room for an own address (a prefix longer than /64, where the identifier
 * would overwrite network bits), or undefined.
 */
export function prefixProblem(link: LinkInfo | undefined, listenAddress: string): string | undefined {
  const info = link?.addresses.find((a) => a.family === "inet6" && a.address === listenAddress);
  if (info === undefined || info.prefixlen <= 64) return undefined;
  return `the listen address ${listenAddress}/${info.prefixlen} has a prefix longer than /64: no room for an own address`;
}

/** True when `address` is on the link as one of the gateway's own addresses (not a /128 of ours). */
export function isGatewaysAddress(link: LinkInfo | undefined, address: string): boolean {
  return link?.addresses.some((a) => gatewaysOwn(a) && a.address === address) ?? false;
}

/**
 * Whether `address` on `iface` is in the record of the addresses sixgate added (Facts.recordedAddresses), whoever's
 * device it was recorded for (a renamed device's address is still ours); undefined while the record is not read.
 */
export function isRecorded(
  recorded: readonly OwnAddress[] | undefined,
  iface: string,
  address: string,
): boolean | undefined {
  return recorded?.some((r) => r.interface === iface && r.address === address);
}
