// Address and name validation for everything that may reach a command line.
// Pure: no node: modules, so the core can use it and the config schema can share it.

const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Linux interface names: at most 15 bytes; we also refuse anything a shell or ip(8) could misread. */
export function isInterfaceName(name: string): boolean {
  return IFNAME.test(name) && name !== "." && name !== "..";
}

export function normalizeMac(mac: string): string | undefined {
  const m = mac.trim().toLowerCase();
  return MAC.test(m) ? m : undefined;
}

/** Parses dotted-quad IPv4 into a 32-bit unsigned number, or undefined. No leading zeros, no shorthand. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value;
}

export function isIPv4(text: string): boolean {
  return parseIPv4(text) !== undefined;
}

export function formatIPv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => String(Math.floor(value / 2 ** shift) % 256)).join(".");
}

/** True when both addresses fall in the same /prefix network. */
export function sameIPv4Subnet(a: string, b: string, prefix: number): boolean {
  const x = parseIPv4(a);
  const y = parseIPv4(b);
  if (x === undefined || y === undefined || prefix < 0 || prefix > 32) return false;
  const size = 2 ** (32 - prefix);
  return Math.floor(x / size) === Math.floor(y / size);
}

/** Parses an IPv6 literal (no zone, no brackets) into eight 16-bit groups, or undefined. */
export function parseIPv6(text: string): number[] | undefined {
  if (text.length === 0 || text.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(text)) return undefined;
  let body = text;
  if (body.includes(".")) {
    // An embedded IPv4 tail (::ffff:192.0.2.1) becomes its two hex groups.
    const lastColon = body.lastIndexOf(":");
    const v4 = parseIPv4(body.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    body = `${body.slice(0, lastColon + 1)}${Math.floor(v4 / 65536).toString(16)}:${(v4 % 65536).toString(16)}`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const parseGroups = (s: string): number[] | undefined => {
    if (s === "") return [];
    const groups: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined;
      groups.push(parseInt(g, 16));
    }
    return groups;
  };
  const head = parseGroups(halves[0] ?? "");
  const rest = halves.length === 2 ? parseGroups(halves[1] ?? "") : [];
  if (head === undefined || rest === undefined) return undefined;
  const explicit = head.length + rest.length;
  if (halves.length === 1) {
    return explicit === 8 ? head : undefined;
  }
  if (explicit > 7) return undefined;
  return [...head, ...new Array<number>(8 - explicit).fill(0), ...rest];
}

export function isIPv6(text: string): boolean {
  return parseIPv6(text) !== undefined;
}

/** RFC 5952 text form: lowercase, longest run (>1) of zero groups compressed, first run on ties. */
export function canonicalIPv6(text: string): string | undefined {
  const groups = parseIPv6(text);
  if (groups === undefined) return undefined;
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** Unique-local (fc00::/7): routed inside a site, never on the internet. */
export function isUniqueLocal(address: string): boolean {
  return /^f[cd]/i.test(address);
}

/** Compares two IPv4 addresses numerically, for a deterministic order (an invalid one sorts first). */
export function compareIPv4(a: string, b: string): number {
  return (parseIPv4(a) ?? -1) - (parseIPv4(b) ?? -1);
}

/** Compares two IPv6 addresses numerically, for a deterministic order. */
export function compareIPv6(a: string, b: string): number {
  const x = parseIPv6(a) ?? [];
  const y = parseIPv6(b) ?? [];
  for (let i = 0; i < 8; i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}
