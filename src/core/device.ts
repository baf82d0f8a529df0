// Which device to serve: a static address, the lease of device.mac, or the single lease on the LAN.
import type { Config, DeviceChoice, Lease } from "./types.js";

export const unknownDevice: DeviceChoice = {
  mac: undefined,
  address: undefined,
  source: undefined,
  detail: "lease file not read yet",
};

/** A lease's expiry for comparison: dnsmasq writes 0 for an infinite lease. */
const lastsUntil = (lease: Lease): number => (lease.expires === 0 ? Infinity : lease.expires);

function fromLeases(leases: Lease[], config: Config): DeviceChoice {
  const { mac, address } = config.device;
  if (address !== undefined) return { mac, address, source: "config", detail: undefined };
  if (mac !== undefined) {
    // The lease that lasts longest wins if the file holds stale ones for the same MAC; an infinite one (0) most.
    const mine = leases.filter((l) => l.mac === mac).sort((a, b) => lastsUntil(b) - lastsUntil(a))[0];
    return mine === undefined
      ? { mac, address: undefined, source: undefined, detail: `no DHCP lease for ${mac}` }
      : { mac, address: mine.address, source: "lease-mac", detail: undefined };
  }
  const only = leases.length === 1 ? leases[0] : undefined;
  if (only !== undefined)
    return { mac: only.mac, address: only.address, source: "lease-single", detail: undefined };
  const detail =
    leases.length === 0
      ? "no DHCP lease on the LAN"
      : `${leases.length} DHCP leases on the LAN; set device.mac to choose one`;
  return { mac: undefined, address: undefined, source: undefined, detail };
}

/**
 * A lease that vanishes (released, expired, or a lease file caught mid-rewrite) keeps the last address
 * learned for the same device: the device is most likely still there, and tearing the proxy down for a
 * moment would drop its connections. A new lease, or a config naming another device, replaces it.
 */
export function chooseDevice(leases: Lease[], config: Config, previous: DeviceChoice): DeviceChoice {
  const next = fromLeases(leases, config);
  const sameDevice = config.device.mac === undefined || previous.mac === config.device.mac;
  const learned = previous.source === "lease-mac" || previous.source === "lease-single";
  if (next.address === undefined && learned && sameDevice && config.device.address === undefined) {
    return { ...previous, detail: `${next.detail ?? "lease gone"}; keeping the last known address` };
  }
  return next;
}
