// The data the pure core works on: what we observed (facts), what we want (desired), what we have (actual).
import type { Config, PortMap } from "../config/schema.js";
import type { LinkFlaps } from "./damping.js";
import type { LeaseFileReport } from "./leases.js";

export type { Config, DeviceConfig, PortMap } from "../config/schema.js";

/** One address as `ip -json addr` reports it, reduced to what selection needs. */
export interface AddrInfo {
  family: "inet" | "inet6";
  address: string;
  prefixlen: number;
  scope: string;
  tentative: boolean;
  deprecated: boolean;
  temporary: boolean;
  dadfailed: boolean;
}

export interface LinkInfo {
  name: string;
  /** Administratively up and with carrier (LOWER_UP). */
  up: boolean;
  addresses: AddrInfo[];
}

export interface Lease {
  mac: string;
  address: string;
  hostname: string;
  /** Expiry as the lease file states it, seconds since the epoch (0 = infinite). */
  expires: number;
}

/** NUD states of a neighbour entry, as `ip neigh` names them (ip-neighbour(8)). */
export type NeighbourState =
  "PERMANENT" | "NOARP" | "REACHABLE" | "STALE" | "DELAY" | "PROBE" | "FAILED" | "INCOMPLETE" | "NONE";

/** An IPv4 neighbour entry of the LAN interface. */
export interface Neighbour {
  address: string;
  /** Lowercase, colon-separated; undefined for an entry without one (FAILED, INCOMPLETE: nobody answered). */
  mac: string | undefined;
  /** The entry's states; the kernel may report several (`ip -json neigh` prints a list). */
  state: NeighbourState[];
  /** Seconds since the kernel last confirmed the entry (`ip -s`); meaningful only for a confirmed one. */
  confirmedAgoSec: number | undefined;
}

/** Everything the agent has observed, folded from events by reduce(). */
export interface Facts {
  /** Interfaces by name, from the latest snapshot; undefined until the first one. */
  links: Record<string, LinkInfo> | undefined;
  /** The WAN address in use; kept while it stays among the best ranked (selectWanAddress), so equals never flap. */
  wanAddress: string | undefined;
  /** Leases from the lease files, merged; undefined until first read. */
  leases: Lease[] | undefined;
  /** The LAN interface's IPv4 neighbour table (only watched while a device is found by MAC); undefined until read. */
  neighbours: Neighbour[] | undefined;
  /** What each lease file held at the last read (format, counts); empty until then. */
  leaseFiles: LeaseFileReport[];
  /** Each device's address, learned from config, leases and neighbours, by device name (see device.ts). */
  devices: Record<string, DeviceChoice>;
  /** The operator's run-time choices, by device name; a device without an entry keeps the defaults. */
  choices: OperatorChoices;
  /** Flaps counted and holds for flapping, per watched interface (from the damping operator; empty without it). */
  flaps: Record<string, LinkFlaps>;
  /** Devices whose every device hop failed in the latest probe, by device name (see reduce's "device-hops"). */
  unreachable: Record<string, DeviceReach>;
  /**
   * The own addresses sixgate added and recorded (runtimeDir/addresses.json, src/effects/addresses.ts): an own
   * address on the interface but not in it is another program's, never ours to serve on. Undefined until read.
   */
  recordedAddresses: OwnAddress[] | undefined;
}

/** One device hop of a health probe: did the gateway reach device:target from its LAN address. */
export interface DeviceHop {
  device: string;
  /** The address probed: a failure says nothing about another address the device may get. */
  address: string;
  target: number;
  ok: boolean;
  error: string | null;
}

/** A device that answered none of its device hops, in `failedProbes` probes in a row. */
export interface DeviceReach {
  address: string;
  failedProbes: number;
  /** The latest probe's first failure, "device port 80: ECONNREFUSED: ...". */
  error: string;
}

/** What the operator chose for one device at run time (MQTT), kept across restarts (state-store.ts). */
export interface DeviceChoices {
  enabled: boolean;
  /** Port mappings set at run time; undefined = the config file's. */
  ports: PortMap[] | undefined;
}

export type OperatorChoices = Record<string, DeviceChoices>;

export const DEFAULT_CHOICES: DeviceChoices = { enabled: true, ports: undefined };

/** A device's choices: its entry, else the defaults. */
export const choicesOf = (choices: OperatorChoices, device: string): DeviceChoices =>
  choices[device] ?? DEFAULT_CHOICES;

export interface State {
  config: Config;
  facts: Facts;
}

export type Event =
  | { type: "links"; links: LinkInfo[]; flaps?: Record<string, LinkFlaps> }
  /** `files`: how each file read, when the reader knows (absent: no per-file detail, as in most unit tests). */
  | { type: "leases"; leases: Lease[]; files?: LeaseFileReport[] }
  | { type: "neighbours"; neighbours: Neighbour[] }
  | { type: "config"; config: Config }
  | { type: "choices"; choices: OperatorChoices }
  /** The device hops of one whole probe (every device with an address); a device not in it is not known unreachable. */
  | { type: "device-hops"; hops: DeviceHop[] }
  /** The record of the own addresses sixgate added, whole, each time it changes (and once read at start). */
  | { type: "recorded-addresses"; addresses: OwnAddress[] };

/**
 * "own-address": the device's own IPv6 address is being added or still tentative (DAD), or cannot be made, or is on
 * the interface already without being ours (another program's: refused, never taken over).
 */
export type WaitingFor = "wan-link" | "wan-address" | "lan-link" | "lan-address" | "device" | "own-address";

/** One device's source-NAT rule. */
export interface SnatRule {
  device: string;
  lanInterface: string;
  lanAddress: string;
  deviceAddress: string;
  /** Target ports on the device, sorted and unique. */
  ports: number[];
}

export interface ListenerSpec {
  /** The device it serves (its name). */
  device: string;
  listen: number;
  target: number;
  wanInterface: string;
  /** The IPv6 address it binds: the gateway's WAN address, or the device's own (DevicePlan.listenAddress). */
  wanAddress: string;
  deviceAddress: string;
  lanAddress: string;
  lanInterface: string;
  maxChildren: number;
  backlog: number;
  connectTimeoutSec: number;
  /** TCP keepalive idle time on both legs, seconds; 0 = off. */
  keepaliveSec: number;
  /** Inactivity timeout of a connection, seconds; null = none. */
  idleTimeoutSec: number | null;
  /** How long a connection lives on after one side half-closed (shut down its sending side), seconds. */
  halfCloseSec: number;
  /** Set on each port of a range mapping ("8000-8010"): HAProxy serves a run of them as one frontend. */
  range?: true;
}

/** What the kernel says of a device's own address: not on the interface, in DAD, DAD failed (a duplicate), usable. */
export type OwnAddressState = "absent" | "tentative" | "valid" | "dadfailed";

/** An IPv6 address the agent adds for a device (`ipv6: own`), as a /128 on `interface`. */
export interface OwnAddress {
  device: string;
  interface: string;
  address: string;
}

export interface Desired {
  /** One rule per device with an address, sorted by device name. */
  snat: SnatRule[];
  /** Sorted by key (listenerKey). */
  listeners: ListenerSpec[];
  /** The devices' own IPv6 addresses, sorted by device name. */
  addresses: OwnAddress[];
}

/**
 * What names a listener: its device and listen port. Never the bind address, so a renumbering changes a listener,
 * not its identity, and a device with its own listen address needs no other key.
 */
export type ListenerKey = string;

export const listenerKey = (spec: { device: string; listen: number }): ListenerKey =>
  `${spec.device}/${spec.listen}`;

/** The order of Desired's lists: by device name (code-point order, not the locale's), then by number. */
export const compareByDevice = (a: { device: string }, b: { device: string }): number =>
  a.device < b.device ? -1 : a.device > b.device ? 1 : 0;

export const compareListeners = (
  a: { device: string; listen: number },
  b: { device: string; listen: number },
): number => compareByDevice(a, b) || a.listen - b.listen;

export type DeviceSource = "config" | "lease-mac" | "lease-single" | "neighbour";

export interface DeviceChoice {
  mac: string | undefined;
  address: string | undefined;
  source: DeviceSource | undefined;
  /** Why the address is unknown, or a note about it. */
  detail: string | undefined;
}

/** What one device needs and, if incomplete, what it waits for. */
export interface DevicePlan {
  name: string;
  enabled: boolean;
  /** The port mappings in force (the operator's, else the config file's). */
  ports: PortMap[];
  portsSource: "config" | "runtime";
  /** "device" when its address is unknown; a global wait (links, addresses) is the Plan's. */
  waitingFor: WaitingFor | undefined;
  detail: string | undefined;
  /** The gateway's LAN address used for this device (the one whose subnet holds it). */
  lanAddress: string | undefined;
  device: { mac: string | undefined; address: string | undefined; source: DeviceSource | undefined };
  snat: SnatRule | null;
  listeners: ListenerSpec[];
  /** Set while its listeners are left out because the device is unreachable (plan.ts UNREACHABLE_AFTER): the reason. */
  unreachable?: string;
  /** The IPv6 address its listeners bind: the WAN address (shared), its own (once valid), undefined while none. */
  listenAddress: string | undefined;
  /** Only for `ipv6: own`, once its address can be made: the address and what the kernel says of it. */
  ownAddress?: { address: string; interface: string; state: OwnAddressState };
  /**
   * Only for `ipv6: own`: its address is on the interface but not in sixgate's record, so another program's. Refused:
   * never served on, added or removed (no ownAddress then); the device waits for it to go.
   */
  refusedAddress?: { address: string; interface: string };
}

export interface Plan {
  desired: Desired;
  /** Set when every enabled device waits: for something of the gateway's (a link, an address), or each for its address ("device"). */
  waitingFor: WaitingFor | undefined;
  /** A human-readable detail for waitingFor ("lan0 is missing or down"). */
  detail: string | undefined;
  /** The gateway's LAN address of the first device (or the first LAN address): what a one-device status shows. */
  lanAddress: string | undefined;
  /** In config order. */
  devices: DevicePlan[];
}

/** What is in place, as the reconciler last applied and verified it. Same shape as Desired. */
export type Actual = Desired;

export type Step =
  | { kind: "stop-listener"; spec: ListenerSpec }
  | { kind: "apply-snat"; rules: SnatRule[] }
  | { kind: "remove-snat" }
  | { kind: "start-listener"; spec: ListenerSpec }
  /** Runs before the starts, so the listeners that bind it find it; removes run after the stops. */
  | { kind: "add-address"; address: OwnAddress }
  | { kind: "remove-address"; address: OwnAddress };
