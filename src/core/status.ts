// The agent's health as it is written to the runtime directory and shown by `sixgate status`.
import type { LinkFlaps } from "./damping.js";
import type { PhaseName } from "./phase.js";
import type { DeviceSource, OwnAddressState, PortMap, WaitingFor } from "./types.js";
import type { ListenerState } from "./phase.js";

export interface ListenerStatus {
  /** The device it serves. */
  device: string;
  listen: number;
  target: number;
  state: ListenerState;
  pid: number | null;
  restarts: number;
  lastError: string | null;
  /** Open connections (socat's children, one per connection), as last counted; at maxChildren it accepts no more. */
  connections: number;
  maxChildren: number;
  /** Connections that ended in an error (device refused, client reset...) since the listener started. */
  connectionErrors: number;
}

export interface ReconcileReport {
  /** When it started (ISO 8601). */
  at: string;
  durationMs: number;
  ok: boolean;
  /** Steps executed; 0 = nothing was to do (such a report answers the request but is not kept as lastReconcile). */
  steps: number;
  error: string | null;
}

export interface ProbeResult {
  device: string;
  /** "device" = TCP connect to device:target from the LAN address; "end-to-end" = through [wan]:listen. */
  hop: "device" | "end-to-end";
  listen: number;
  target: number;
  ok: boolean;
  ms: number;
  error: string | null;
}

export interface ProbeReport {
  at: string;
  ok: boolean;
  results: ProbeResult[];
}

/** One device as a dashboard shows it. */
export interface DeviceStatus {
  name: string;
  /** Its own phase: one device that is off degrades itself, not the others (see phase.ts). */
  phase: PhaseName;
  waitingFor: WaitingFor | null;
  reason: string | null;
  enabled: boolean;
  mac: string | null;
  address: string | null;
  /** Where the address came from (configuration, a lease, the neighbour table). */
  source: DeviceSource | null;
  lanAddress: string | null;
  ports: PortMap[];
  portsSource: "config" | "runtime";
  listeners: ListenerStatus[];
  /** Its DNS name: the FQDN when `dns:` is configured, else the bare `hostname`; null without one. */
  hostname: string | null;
  /**
   * Where its listeners bind: `address` is its listen address (the WAN address when shared, its own address when
   * own; null while it has none usable); `state` is what the kernel says of its own address (null when shared).
   */
  ipv6: { mode: "shared" | "own"; address: string | null; state: OwnAddressState | null };
}

/** One AAAA record the agent keeps (src/dns/). */
export interface DnsRecordStatus {
  /** The FQDN, without the final dot. */
  name: string;
  /** The address it should hold now; null while there is none (the record is then left as it is). */
  address: string | null;
  /** ok: the server took `address`; pending: an update is due or running; failed: the last attempt failed. */
  state: "ok" | "pending" | "failed";
  lastError: string | null;
  /** When the server last took an update of this record (ISO 8601). */
  updatedAt: string | null;
  /** From the moment the address changed (as the agent saw it) to the server's answer, retries included. */
  latencyMs: number | null;
}

/** The DNS updates: where they go and each record's state. */
export interface DnsStatus {
  server: string;
  zone: string;
  records: DnsRecordStatus[];
}

export interface AgentStatus {
  pid: number;
  version: string;
  startedAt: string;
  phase: PhaseName;
  waitingFor: WaitingFor | null;
  reason: string | null;
  /** True while any device is enabled. */
  enabled: boolean;
  /** Every device, in config order. */
  devices: DeviceStatus[];
  /**
   * True while the config in force uses the one-device shorthand (`device:` + `ports:`), false with a `devices:` list:
   * Home Assistant discovery follows it (0.1's single device, or the gateway and one device per LAN device).
   */
  shorthand: boolean;
  /** The first device's port mappings and their source; kept for scripts built on 0.1: read `devices`. */
  ports: PortMap[];
  portsSource: "config" | "runtime";
  wan: { interface: string; address: string | null };
  /** Per watched interface (WAN, LAN): times it went down since start, and whether it is held down for flapping. */
  flaps: Record<string, LinkFlaps>;
  lan: { interface: string; address: string | null };
  /** The first device's address and its source; kept for scripts built on 0.1: read `devices`. */
  device: { mac: string | null; address: string | null; source: DeviceSource | null };
  /** Every device's listeners. */
  listeners: ListenerStatus[];
  /** applied: our rules are in place; matchesPlan: they are exactly what the plan wants (false while converging). */
  firewall: { backend: "nft" | "iptables" | null; applied: boolean; matchesPlan: boolean };
  lastReconcile: ReconcileReport | null;
  /** The last health probe (scheduled tick or operator request). */
  lastProbe: ProbeReport | null;
  /** The DNS records kept by RFC 2136 updates; null without a `dns:` section. */
  dns: DnsStatus | null;
  /** What the agent lives with but cannot repair itself (a full runtime directory...): empty when all is well. */
  problems: string[];
}
