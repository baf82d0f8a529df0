// dnsmasq lease file: one lease a line, "<expiry> <mac> <ip> <hostname> <client-id>"; expiry 0 is an infinite lease.
// IPv6 leases follow a "duid" line and are ignored: the device is IPv4-only.
import { isIPv4, normalizeMac } from "./addr.js";
import type { Lease } from "./types.js";

export function parseDnsmasqLeases(text: string): Lease[] {
  const leases: Lease[] = [];
  for (const line of text.split("\n")) {
    const [expiry, mac, address, hostname] = line.trim().split(/\s+/);
    if (expiry === "duid") break;
    if (expiry === undefined || mac === undefined || address === undefined) continue;
    const normalized = normalizeMac(mac);
    // The expiry is a time_t in seconds; a digit string past 2^53 (a garbled line) is no time at all.
    const expires = /^[0-9]{1,16}$/.test(expiry) ? Number(expiry) : NaN;
    if (!Number.isSafeInteger(expires) || normalized === undefined || !isIPv4(address)) continue;
    leases.push({ mac: normalized, address, hostname: hostname ?? "*", expires });
  }
  return leases;
}
