// The DNS records sixgate keeps, as a pure function of the agent's status: the updater (src/dns/updater.ts) makes
// the server hold what this returns.
import type { DeviceStatus } from "./status.js";

/** One AAAA record: its FQDN and the address it should hold (null: none known now, the record is left alone). */
export interface DnsRecord {
  name: string;
  address: string | null;
}

/** A device's IPv6 listen address as issue 11's own-address part reports it (absent before that part existed). */
interface DeviceIPv6 {
  mode: "shared" | "own";
  address: string | null;
  state: "absent" | "tentative" | "valid" | "dadfailed" | null;
}

/** The part of the agent's status the records follow. */
export interface RecordSource {
  wan: { address: string | null };
  devices: readonly (Pick<DeviceStatus, "name" | "hostname"> & { ipv6?: DeviceIPv6 })[];
}

/** `label.zone`: the name a record is kept under (no final dot). */
export function fqdn(label: string, zone: string): string {
  return `${label}.${zone}`;
}

/** A device's name as status shows it: the FQDN in `zone` when DNS is configured, else the bare hostname. */
export function deviceHostname(hostname: string | undefined, zone: string | undefined): string | null {
  if (hostname === undefined) return null;
  return zone === undefined ? hostname : fqdn(hostname, zone);
}

/**
 * The address a device's name should point at: its own address once valid (a tentative or duplicate one is not
 * reachable), else the shared WAN address it listens on.
 */
export function deviceAddress(device: RecordSource["devices"][number], wan: string | null): string | null {
  const { ipv6 } = device;
  if (ipv6 === undefined) return wan;
  if (ipv6.mode === "shared") return ipv6.address;
  return ipv6.state === "valid" ? ipv6.address : null;
}

/**
 * The records wanted now, sorted by name: each device with a hostname (its `hostname` in the status is already the
 * FQDN), and `gatewayName` for the WAN address. Devices without a hostname have none.
 */
export function wantedRecords(
  status: RecordSource,
  settings: { zone: string; gatewayName?: string | undefined },
): DnsRecord[] {
  const records: DnsRecord[] = status.devices.flatMap((d) =>
    d.hostname === null ? [] : [{ name: d.hostname, address: deviceAddress(d, status.wan.address) }],
  );
  if (settings.gatewayName !== undefined)
    records.push({ name: fqdn(settings.gatewayName, settings.zone), address: status.wan.address });
  return records.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
