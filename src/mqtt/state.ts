// The retained `<base>/state` payload: the agent's health as a dashboard reads it. Built only from AgentStatus and
// probe results, never from the configuration, so no secret can reach it.
import { deviceAddress } from "../core/dns.js";
import type {
  AgentStatus,
  DeviceStatus,
  DnsRecordStatus,
  DnsStatus,
  ListenerStatus,
  ReconcileReport,
} from "../core/status.js";
import type { PortMap } from "../core/types.js";
import type { ProbeReport } from "../control.js";
import type { Instance } from "./publisher-watch.js";

/** Fields the agent may add to its status; published when present. */
export interface StatusExtras {
  /** The latest probe report the agent holds. */
  lastProbe: ProbeReport | null;
}

export type PublishedStatus = AgentStatus & Partial<StatusExtras>;

/** A listener as published: its status without the device name (it sits under its device, or carries no use). */
export type PublishedListener = Pick<
  ListenerStatus,
  | "listen"
  | "target"
  | "state"
  | "pid"
  | "restarts"
  | "lastError"
  | "connections"
  | "maxChildren"
  | "connectionErrors"
>;

/** What the agent as a whole and each device show alike: phase, the switch, listeners and ports. */
interface ServingState {
  phase: DeviceStatus["phase"];
  reason: string | null;
  waitingFor: DeviceStatus["waitingFor"];
  enabled: boolean;
  listeners: PublishedListener[];
  listenersUp: number;
  listenersTotal: number;
  ports: PortMap[];
  portsSource: "config" | "runtime";
}

/** One LAN device in the state: `devices.<name>` (Home Assistant's per-device entities read it). */
export interface DeviceState extends ServingState {
  mac: string | null;
  address: string | null;
  source: DeviceStatus["source"];
  /** Every end-to-end probe of this device succeeded; null before its first probe. */
  reachable: boolean | null;
  /** The IPv6 address clients reach it at now (its own, or the shared WAN address); null while it has none. */
  ipv6Address: string | null;
  /** Its DNS name (the FQDN with `dns:`), null without a hostname. */
  hostname: string | null;
  /** Its AAAA record's update state, with `dns:` and a hostname; else null. */
  dns: Pick<DnsRecordStatus, "state" | "lastError" | "updatedAt" | "latencyMs"> | null;
}

/** The agent's state; its `listeners` are every device's, `ports` and `portsSource` the first device's (0.1). */
export interface HealthState extends ServingState {
  wan: { interface: string; address: string | null };
  lan: { interface: string; address: string | null };
  device: {
    mac: string | null;
    address: string | null;
    source: AgentStatus["device"]["source"];
    /** Every end-to-end probe through [wan]:listen succeeded; null before the first probe. */
    reachable: boolean | null;
  };
  /** Each LAN device by name. `device`, `ports` and `portsSource` above are the first device's, as in 0.1. */
  devices: Record<string, DeviceState>;
  firewall: { backend: "nft" | "iptables" | null; applied: boolean; matchesPlan: boolean };
  /** The DNS records the agent keeps; null without `dns:`. */
  dns: DnsStatus | null;
  lastReconcile: ReconcileReport | null;
  probes: ProbeReport | null;
  pid: number;
  startedAt: string;
  uptimeSec: number;
  version: string;
  /** Who published it (machine fingerprint, session): set by the MQTT session, for spotting another publisher. */
  instance?: Instance;
}

/**
 * Reachable over IPv6 means every end-to-end probe succeeded (and there was at least one); of one device when a
 * name is given, else of all.
 */
export function reachableFrom(report: ProbeReport | null, device?: string): boolean | null {
  if (report === null) return null;
  const e2e = report.results.filter(
    (r) => r.hop === "end-to-end" && (device === undefined || r.device === device),
  );
  return e2e.length > 0 && e2e.every((r) => r.ok);
}

function publishedListeners(listeners: readonly ListenerStatus[]): PublishedListener[] {
  return listeners.map((l) => ({
    listen: l.listen,
    target: l.target,
    state: l.state,
    pid: l.pid,
    restarts: l.restarts,
    lastError: l.lastError,
    connections: l.connections,
    maxChildren: l.maxChildren,
    connectionErrors: l.connectionErrors,
  }));
}

const running = (listeners: readonly PublishedListener[]) =>
  listeners.filter((l) => l.state === "running").length;

function deviceState(device: DeviceStatus, status: PublishedStatus, report: ProbeReport | null): DeviceState {
  const listeners = publishedListeners(device.listeners);
  const record = status.dns?.records.find((r) => r.name === device.hostname);
  return {
    phase: device.phase,
    reason: device.reason,
    waitingFor: device.waitingFor,
    enabled: device.enabled,
    mac: device.mac,
    address: device.address,
    source: device.source,
    // A probe taken before this device existed has no result for it: not known yet, rather than unreachable.
    reachable: report?.results.some((r) => r.device === device.name)
      ? reachableFrom(report, device.name)
      : null,
    listeners,
    listenersUp: running(listeners),
    listenersTotal: listeners.length,
    ports: device.ports.map((p) => ({ listen: p.listen, target: p.target })),
    portsSource: device.portsSource,
    ipv6Address: deviceAddress(device, status.wan.address),
    hostname: device.hostname,
    dns:
      record === undefined
        ? null
        : {
            state: record.state,
            lastError: record.lastError,
            updatedAt: record.updatedAt,
            latencyMs: record.latencyMs,
          },
  };
}

export function buildState(
  status: PublishedStatus,
  probes: ProbeReport | null,
  version: string,
  nowMs: number,
): HealthState {
  const report = probes ?? status.lastProbe ?? null;
  const started = Date.parse(status.startedAt);
  const listeners = publishedListeners(status.listeners);
  return {
    phase: status.phase,
    reason: status.reason,
    waitingFor: status.waitingFor,
    enabled: status.enabled,
    wan: { interface: status.wan.interface, address: status.wan.address },
    lan: { interface: status.lan.interface, address: status.lan.address },
    device: {
      mac: status.device.mac,
      address: status.device.address,
      source: status.device.source,
      reachable: reachableFrom(report),
    },
    listeners,
    listenersUp: running(listeners),
    listenersTotal: listeners.length,
    ports: status.ports.map((p) => ({ listen: p.listen, target: p.target })),
    portsSource: status.portsSource,
    devices: Object.fromEntries(status.devices.map((d) => [d.name, deviceState(d, status, report)])),
    firewall: {
      backend: status.firewall.backend,
      applied: status.firewall.applied,
      matchesPlan: status.firewall.matchesPlan,
    },
    dns: status.dns,
    lastReconcile: status.lastReconcile,
    probes: report,
    pid: status.pid,
    startedAt: status.startedAt,
    uptimeSec: Number.isFinite(started) ? Math.max(0, Math.floor((nowMs - started) / 1000)) : 0,
    version,
  };
}

/**
 * What decides whether a state is new: everything but the uptime, which changes every second and would otherwise
 * turn every comparison into a publish.
 */
export function stateKey(state: HealthState): string {
  return JSON.stringify({ ...state, uptimeSec: 0 });
}
