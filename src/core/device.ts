// Which device to serve: a static address, the device.mac's address (from a lease or the neighbour table), or the
// single lease on the LAN.
//
// With device.mac, the sources can disagree; the rule (docs/configuration.md, "Where the device's address comes
// from"):
//   1. a confirmed neighbour entry (REACHABLE or PERMANENT) for the MAC: the device answered at that address in
//      the last half minute or so, whatever an older lease says (a device given a static address after a lease);
//   2. else the MAC's lease (the one that lasts longest);
//   3. else an unconfirmed neighbour entry (STALE, DELAY, PROBE): the device talked at that address, not lately;
//   4. else the last known address is kept (see chooseDevice).
// FAILED and INCOMPLETE entries carry no MAC and never count. Among entries of one rank the address in use is kept,
// else the lowest, so two addresses of one device never make the listeners flap.
import { compareIPv4 } from "./addr.js";
import type { Config, DeviceChoice, Lease, Neighbour, NeighbourState } from "./types.js";

export const unknownDevice: DeviceChoice = {
  mac: undefined,
  address: undefined,
  source: undefined,
  detail: "lease file not read yet",
};

/** What the device is chosen from: the facts' leases and neighbour table (undefined = not read yet). */
export interface DeviceEvidence {
  leases: Lease[] | undefined;
  neighbours: Neighbour[] | undefined;
}

/** A lease's expiry for comparison: dnsmasq writes 0 for an infinite lease. */
const lastsUntil = (lease: Lease): number => (lease.expires === 0 ? Infinity : lease.expires);

const CONFIRMED: readonly NeighbourState[] = ["REACHABLE", "PERMANENT", "NOARP"];
const UNCONFIRMED: readonly NeighbourState[] = ["STALE", "DELAY", "PROBE"];

/** The MAC's neighbour address in one of `states`: the one in use if it is among them, else the lowest. */
function neighbourAddress(
  neighbours: readonly Neighbour[],
  mac: string,
  states: readonly NeighbourState[],
  current: string | undefined,
): string | undefined {
  const addresses = neighbours
    .filter((n) => n.mac === mac && n.state.some((s) => states.includes(s)))
    .map((n) => n.address);
  if (current !== undefined && addresses.includes(current)) return current;
  return addresses.sort(compareIPv4)[0];
}

function byMac(evidence: DeviceEvidence, mac: string, current: string | undefined): DeviceChoice {
  const neighbours = evidence.neighbours ?? [];
  const found = (address: string, source: DeviceChoice["source"]): DeviceChoice => ({
    mac,
    address,
    source,
    detail: undefined,
  });
  const confirmed = neighbourAddress(neighbours, mac, CONFIRMED, current);
  if (confirmed !== undefined) return found(confirmed, "neighbour");
  // The lease that lasts longest wins if the file holds stale ones for the same MAC; an infinite one (0) most.
  const lease = (evidence.leases ?? [])
    .filter((l) => l.mac === mac)
    .sort((a, b) => lastsUntil(b) - lastsUntil(a))[0];
  if (lease !== undefined) return found(lease.address, "lease-mac");
  const seen = neighbourAddress(neighbours, mac, UNCONFIRMED, current);
  if (seen !== undefined) return found(seen, "neighbour");
  return {
    mac,
    address: undefined,
    source: undefined,
    detail: `no DHCP lease or neighbour entry for ${mac}`,
  };
}

function fromEvidence(evidence: DeviceEvidence, config: Config, current: string | undefined): DeviceChoice {
  const { mac, address } = config.device;
  if (address !== undefined) return { mac, address, source: "config", detail: undefined };
  if (mac !== undefined) return byMac(evidence, mac, current);
  const leases = evidence.leases ?? [];
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
 * A lease that vanishes (released, expired, or a lease file caught mid-rewrite), or a neighbour entry that ages out,
 * keeps the last address learned for the same device: the device is most likely still there, and tearing the proxy
 * down for a moment would drop its connections. A new lease or entry, or a config naming another device, replaces it.
 */
export function chooseDevice(evidence: DeviceEvidence, config: Config, previous: DeviceChoice): DeviceChoice {
  const sameDevice = config.device.mac === undefined || previous.mac === config.device.mac;
  const next = fromEvidence(evidence, config, sameDevice ? previous.address : undefined);
  const learned =
    previous.source === "lease-mac" || previous.source === "lease-single" || previous.source === "neighbour";
  if (next.address === undefined && learned && sameDevice && config.device.address === undefined) {
    return { ...previous, detail: `${next.detail ?? "lease gone"}; keeping the last known address` };
  }
  return next;
}
