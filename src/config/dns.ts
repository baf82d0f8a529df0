// The `dns:` section: where sixgate sends its RFC 2136 updates (src/dns/), and the names it keeps there.
import * as z from "zod";
import { canonicalIPv6, isIPv4 } from "../core/addr.js";

/** The authoritative server an update goes to, as `server` names it. */
export interface DnsServer {
  /** An IPv4 or IPv6 literal (IPv6 in canonical form, no brackets). */
  address: string;
  port: number;
}

/**
 * Parses `dns.server`: an IPv4 or IPv6 literal, with an optional port as `[v6]:port` or `v4:port` (default 53).
 * Returns undefined for anything else: a host name would need a resolver the agent may not have while it renumbers.
 */
export function parseDnsServer(text: string): DnsServer | undefined {
  const withPort = (address: string | undefined, port: string | undefined): DnsServer | undefined => {
    const n = port === undefined ? 53 : Number(port);
    return address === undefined || n < 1 || n > 65535 ? undefined : { address, port: n };
  };
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed !== null) return withPort(canonicalIPv6(bracketed[1] ?? ""), bracketed[2]);
  const v4 = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(text);
  if (v4 !== null) return isIPv4(v4[1] ?? "") ? withPort(v4[1], v4[2]) : undefined;
  return withPort(canonicalIPv6(text), undefined);
}

/** One DNS label (RFC 1123): letters, digits and hyphens, no hyphen at either end. */
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** A zone name: dot-separated labels of letters, digits and hyphens, at most 253 characters; kept lower case, no final dot. */
const zoneName = z
  .string()
  .transform((s) => s.toLowerCase().replace(/\.$/, ""))
  .refine(
    (s) => s.length <= 253 && s.split(".").every((l) => LABEL.test(l)),
    "must be a domain name like example.test (labels of a-z 0-9 -, separated by dots)",
  );

const absolutePath = z
  .string()
  .refine((s) => s.startsWith("/") && !s.includes("\0") && s.length < 4096, "must be an absolute path");

/** A device's `hostname` and `dns.gatewayName`. */
export const dnsLabel = z
  .string()
  .regex(LABEL, "must be one DNS label: 1-63 of a-z 0-9 -, not starting or ending with -");

export const dnsConfigSchema = z.strictObject({
  server: z
    .string()
    .refine(
      (s) => parseDnsServer(s) !== undefined,
      'must be an IPv4 or IPv6 address, with an optional port as "[2001:db8::53]:5353" or "192.0.2.53:5353"',
    ),
  zone: zoneName,
  /** BIND's key file (`tsig-keygen` writes it); checked when the config is loaded (src/dns/key.ts). */
  keyFile: absolutePath,
  /** Seconds: short, so a client that asked before a renumbering asks again soon. */
  ttl: z
    .number()
    .int("must be a whole number")
    .min(1, "must be 1-86400")
    .max(86400, "must be 1-86400")
    .default(60),
  /** The gateway's own name: its AAAA record follows the WAN address. */
  gatewayName: dnsLabel.optional(),
});

export type DnsConfig = z.output<typeof dnsConfigSchema>;

/**
 * Reports a hostname used twice, or equal to `gatewayName`: two records sixgate keeps under one name would take
 * turns overwriting each other.
 */
export function checkHostnames(
  devices: readonly { name: string; hostname?: string | undefined }[],
  gatewayName: string | undefined,
  issue: (path: (string | number)[], message: string) => void,
): void {
  const owners = new Map<string, string>();
  devices.forEach((d, i) => {
    if (d.hostname === undefined) return;
    if (d.hostname === gatewayName)
      issue(["devices", i, "hostname"], `"${d.hostname}" is also dns.gatewayName`);
    const first = owners.get(d.hostname);
    if (first !== undefined) issue(["devices", i, "hostname"], `"${d.hostname}" is also ${first}'s hostname`);
    else owners.set(d.hostname, d.name);
  });
}
