// Where a device is: a static address, its MAC's address (from a lease or the neighbour table), or the
// single lease in the LAN interface's subnets.
//
// With device.mac, the sources can disagree; the rule (docs/configuration.md, "Where the device's address comes
// from"):
//   1. the MAC's lease (the one that lasts longest), unless the kernel found its address unreachable (a FAILED or
//      INCOMPLETE neighbour entry for it): a device that re-leases to a new address is followed at once, although
//      its old address stays REACHABLE in the table for up to 45 s;
//   2. else a confirmed neighbour entry (REACHABLE, or PERMANENT/NOARP set by an administrator) for the MAC: a
//      device with a static address, or one that left its lease for a static address (the health tick's probes
//      make the kernel try the lease's address, and find it FAILED);
//   3. else the unreachable lease, when there is nothing better;
//   4. else an unconfirmed neighbour entry (STALE, DELAY, PROBE): the device talked at that address, not lately;
//   5. else the last known address is kept (see chooseDevice).
// Nothing is chosen from the neighbour table before the lease files are first read: a lease outranks it.
// Among confirmed entries, one confirmed more than MOVE_MARGIN_SEC more recently than the address in use wins (a
// static device moved; the old entry stays REACHABLE for a while); otherwise, and among unconfirmed ones, the
// address in use is kept, else the lowest, so two addresses of one device never make the listeners flap.
import { compareIPv4, sameIPv4Subnet } from "./addr.js";
import { UNRECOGNISED_FORMAT, type LeaseFileReport } from "./leases.js";
import type {
  AddrInfo,
  DeviceChoice,
  DeviceConfig,
  Lease,
  LinkInfo,
  Neighbour,
  NeighbourState,
} from "./types.js";

export const unknownDevice: DeviceChoice = {
  mac: undefined,
  address: undefined,
  source: undefined,
  detail: "lease file not read yet",
};

/**
 * What the device is chosen from: the facts' leases and neighbour table (undefined = not read yet), the links (the
 * LAN interface's subnets; absent or undefined = not known, so no lease is on the LAN yet), and how each lease file
 * read (absent = no detail).
 */
export interface DeviceEvidence {
  leases: Lease[] | undefined;
  neighbours: Neighbour[] | undefined;
  links?: Record<string, LinkInfo> | undefined;
  leaseFiles?: readonly LeaseFileReport[];
}

/** A lease's expiry for comparison: 0 is an infinite lease. */
const lastsUntil = (lease: Lease): number => (lease.expires === 0 ? Infinity : lease.expires);

const CONFIRMED: readonly NeighbourState[] = ["REACHABLE", "PERMANENT", "NOARP"];
const UNCONFIRMED: readonly NeighbourState[] = ["STALE", "DELAY", "PROBE"];
const UNREACHABLE: readonly NeighbourState[] = ["FAILED", "INCOMPLETE"];

/** Seconds by which another confirmed entry must be fresher than the address in use to replace it. */
export const MOVE_MARGIN_SEC = 2;

const age = (n: Neighbour) => n.confirmedAgoSec ?? Infinity;

/** The MAC's neighbour address in one of `states`, by the rule at the top of this file. */
function neighbourAddress(
  neighbours: readonly Neighbour[],
  mac: string,
  states: readonly NeighbourState[],
  current: string | undefined,
  byFreshness: boolean,
): string | undefined {
  const entries = neighbours.filter((n) => n.mac === mac && n.state.some((s) => states.includes(s)));
  const freshest = byFreshness
    ? [...entries].sort((a, b) => age(a) - age(b) || compareIPv4(a.address, b.address))[0]
    : undefined;
  const inUse = entries.find((n) => n.address === current);
  // NaN (both ages unknown) compares false: the address in use stays.
  const moved = freshest !== undefined && age(inUse ?? freshest) - age(freshest) > MOVE_MARGIN_SEC;
  if (inUse !== undefined && !moved) return inUse.address;
  return freshest?.address ?? entries.map((n) => n.address).sort(compareIPv4)[0];
}

function byMac(evidence: DeviceEvidence, mac: string, current: string | undefined): DeviceChoice {
  const neighbours = evidence.neighbours ?? [];
  const found = (address: string, source: DeviceChoice["source"]): DeviceChoice => ({
    mac,
    address,
    source,
    detail: undefined,
  });
  // The lease that lasts longest wins if the file holds stale ones for the same MAC; an infinite one (0) most.
  const lease = (evidence.leases ?? [])
    .filter((l) => l.mac === mac)
    .sort((a, b) => lastsUntil(b) - lastsUntil(a))[0];
  const unreachable = (address: string) =>
    neighbours.some((n) => n.address === address && n.state.some((s) => UNREACHABLE.includes(s)));
  if (lease !== undefined && !unreachable(lease.address)) return found(lease.address, "lease-mac");
  const confirmed = neighbourAddress(neighbours, mac, CONFIRMED, current, true);
  if (confirmed !== undefined) return found(confirmed, "neighbour");
  if (lease !== undefined) return found(lease.address, "lease-mac");
  const seen = neighbourAddress(neighbours, mac, UNCONFIRMED, current, false);
  if (seen !== undefined) return found(seen, "neighbour");
  return {
    mac,
    address: undefined,
    source: undefined,
    detail: `no DHCP lease or neighbour entry for ${mac}`,
  };
}

/** The IPv4 addresses of the LAN interface: their subnets are the LAN (a guest pool on another bridge is not). */
function lanSubnets(evidence: DeviceEvidence, lanInterface: string): AddrInfo[] {
  const lan = evidence.links?.[lanInterface];
  return lan?.addresses.filter((a) => a.family === "inet") ?? [];
}

function fromEvidence(
  evidence: DeviceEvidence,
  device: DeviceConfig,
  lanInterface: string,
  current: string | undefined,
): DeviceChoice {
  const { mac, address } = device;
  if (address !== undefined) return { mac, address, source: "config", detail: undefined };
  if (mac !== undefined) return byMac(evidence, mac, current);
  // Without a MAC, only the leases in the LAN interface's subnets count: a router's guest or IoT pool served by
  // the same DHCP server would otherwise make "the only lease" never true.
  const leases = evidence.leases ?? [];
  const subnets = lanSubnets(evidence, lanInterface);
  const onLan = leases.filter((l) => subnets.some((a) => sameIPv4Subnet(a.address, l.address, a.prefixlen)));
  const only = onLan.length === 1 ? onLan[0] : undefined;
  if (only !== undefined)
    return { mac: only.mac, address: only.address, source: "lease-single", detail: undefined };
  const elsewhere = leases.length - onLan.length;
  const ignored = elsewhere === 0 ? "" : ` (${elsewhere} outside ${lanInterface}'s subnets ignored)`;
  const detail =
    onLan.length === 0
      ? `no DHCP lease on the LAN${ignored}`
      : `${onLan.length} DHCP leases on the LAN; set device.mac to choose one${ignored}`;
  return { mac: undefined, address: undefined, source: undefined, detail };
}

/** "lease file X: unrecognised format" for each file read in no format we know; undefined when there is none. */
function unrecognisedLeaseFiles(files: readonly LeaseFileReport[]): string | undefined {
  const unknown = files.filter((f) => f.format === "unknown");
  if (unknown.length === 0) return undefined;
  return unknown.map((f) => `lease file ${f.file}: ${UNRECOGNISED_FORMAT}`).join("; ");
}

/**
 * A lease that vanishes (released, expired, or a lease file caught mid-rewrite), or a neighbour entry that ages out,
 * keeps the last address learned for the same device: the device is most likely still there, and tearing the proxy
 * down for a moment would drop its connections. A new lease or entry, or a config naming another device, replaces it.
 * When the address is unknown and a lease file is in a format we do not read, that is the reason given, not "no
 * lease": the lease may be in there.
 */
export function chooseDevice(
  evidence: DeviceEvidence,
  device: DeviceConfig,
  lanInterface: string,
  previous: DeviceChoice,
): DeviceChoice {
  // Until the lease files are read (an address snapshot or the neighbour table came first), nothing is known about a
  // lease, which outranks a neighbour entry: choosing from the table meanwhile would set the device up at an address
  // the lease may overrule a moment later (a second reconcile at every start, its listeners moved).
  if (evidence.leases === undefined && device.address === undefined)
    return previous.source === "config" ? unknownDevice : previous;
  const sameDevice = device.mac === undefined || previous.mac === device.mac;
  const found = fromEvidence(evidence, device, lanInterface, sameDevice ? previous.address : undefined);
  const unreadable =
    found.address === undefined ? unrecognisedLeaseFiles(evidence.leaseFiles ?? []) : undefined;
  const next = unreadable === undefined ? found : { ...found, detail: unreadable };
  const learned =
    previous.source === "lease-mac" || previous.source === "lease-single" || previous.source === "neighbour";
  if (next.address === undefined && learned && sameDevice && device.address === undefined) {
    return { ...previous, detail: `${next.detail ?? "lease gone"}; keeping the last known address` };
  }
  return next;
}

/**
 * Every configured device's choice, by name: a device keeps its own previous choice (see chooseDevice); one no
 * longer configured is dropped.
 */
export function chooseDevices(
  evidence: DeviceEvidence,
  devices: readonly DeviceConfig[],
  lanInterface: string,
  previous: Readonly<Record<string, DeviceChoice>>,
): Record<string, DeviceChoice> {
  return Object.fromEntries(
    devices.map((d) => [d.name, chooseDevice(evidence, d, lanInterface, previous[d.name] ?? unknownDevice)]),
  );
}
