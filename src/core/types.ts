// The data the pure core works on: what we observed (facts), what we want (desired), what we have (actual).
import type { Config, PortMap } from "../config/schema.js";
import type { LinkFlaps } from "./damping.js";
import type { LeaseFileReport } from "./leases.js";

export type { Config, PortMap } from "../config/schema.js";

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
  /** The LAN interface's IPv4 neighbour table (only watched while device.mac is set); undefined until read. */
  neighbours: Neighbour[] | undefined;
  /** What each lease file held at the last read (format, counts); empty until then. */
  leaseFiles: LeaseFileReport[];
  /** The proxy as a whole may be switched off by the operator. */
  enabled: boolean;
  /** The device to serve, learned from config and leases; kept when its lease vanishes (see device.ts). */
  device: DeviceChoice;
  /** Port mappings set at run time by the operator; undefined = the config file's. */
  ports: PortMap[] | undefined;
  /** Flaps counted and holds for flapping, per watched interface (from the damping operator; empty without it). */
  flaps: Record<string, LinkFlaps>;
}

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
  | { type: "enabled"; enabled: boolean }
  | { type: "ports"; ports: PortMap[] | undefined };

export type WaitingFor = "wan-link" | "wan-address" | "lan-link" | "lan-address" | "device";

export interface SnatRule {
  lanInterface: string;
  lanAddress: string;
  deviceAddress: string;
  /** Target ports on the device, sorted and unique. */
  ports: number[];
}

export interface ListenerSpec {
  listen: number;
  target: number;
  wanInterface: string;
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
}

export interface Desired {
  snat: SnatRule | null;
  /** Sorted by listen port. */
  listeners: ListenerSpec[];
}

export type DeviceSource = "config" | "lease-mac" | "lease-single" | "neighbour";

export interface DeviceChoice {
  mac: string | undefined;
  address: string | undefined;
  source: DeviceSource | undefined;
  /** Why the address is unknown, or a note about it. */
  detail: string | undefined;
}

export interface Plan {
  desired: Desired;
  /** Set when the desired state is incomplete because something is missing. */
  waitingFor: WaitingFor | undefined;
  /** A human-readable detail for waitingFor ("no lease for 02:00:...", "2 leases, set device.mac"). */
  detail: string | undefined;
  lanAddress: string | undefined;
  device: { mac: string | undefined; address: string | undefined; source: DeviceSource | undefined };
}

/** What is in place, as the reconciler last applied and verified it. Same shape as Desired. */
export type Actual = Desired;

export type Step =
  | { kind: "stop-listener"; spec: ListenerSpec }
  | { kind: "apply-snat"; rule: SnatRule }
  | { kind: "remove-snat" }
  | { kind: "start-listener"; spec: ListenerSpec };
