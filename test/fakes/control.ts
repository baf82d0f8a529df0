// A fake AgentControl: holds a status the test can change, records every call, and can be told to fail or stall.
import { BehaviorSubject, Subject, distinctUntilChanged, merge, type Observable } from "rxjs";
import type { ReloadReport } from "../../src/config/reload.js";
import type { AgentControl, ProbeReport } from "../../src/control.js";
import type { AgentStatus, ListenerStatus, ReconcileReport } from "../../src/core/status.js";
import type { PortMap } from "../../src/core/types.js";

/** A listener with no connections open. */
const IDLE = { connections: 0, maxChildren: 64, connectionErrors: 0 };
const LISTENERS: ListenerStatus[] = [
  {
    device: "device",
    listen: 80,
    target: 80,
    state: "running",
    pid: 1001,
    restarts: 0,
    lastError: null,
    ...IDLE,
  },
  {
    device: "device",
    listen: 2323,
    target: 23,
    state: "running",
    pid: 1002,
    restarts: 1,
    lastError: null,
    ...IDLE,
  },
];

export type ControlMethod =
  "reconcile" | "restartListeners" | "probe" | "setEnabled" | "reloadConfig" | "setPorts" | "resetPorts";

export interface ControlCall {
  method: ControlMethod;
  args: unknown[];
}

export function sampleStatus(overrides: Partial<AgentStatus> = {}): AgentStatus {
  return {
    pid: 4242,
    version: "0.1.0",
    startedAt: "2026-01-01T00:00:00.000Z",
    phase: "serving",
    waitingFor: null,
    reason: null,
    enabled: true,
    ports: [
      { listen: 80, target: 80 },
      { listen: 2323, target: 23 },
    ],
    portsSource: "config",
    wan: { interface: "wan0", address: "2001:db8::1" },
    flaps: { wan0: { flaps: 0, heldDown: false }, lan0: { flaps: 0, heldDown: false } },
    lan: { interface: "lan0", address: "192.168.1.1" },
    device: { mac: "02:00:00:00:01:00", address: "192.168.1.100", source: "lease-mac" },
    devices: [
      {
        name: "device",
        phase: "serving",
        waitingFor: null,
        reason: null,
        enabled: true,
        mac: "02:00:00:00:01:00",
        address: "192.168.1.100",
        source: "lease-mac",
        lanAddress: "192.168.1.1",
        ports: [
          { listen: 80, target: 80 },
          { listen: 2323, target: 23 },
        ],
        portsSource: "config",
        listeners: LISTENERS,
        hostname: null,
        ipv6: { mode: "shared", address: "2001:db8::1", state: null },
      },
    ],
    shorthand: true,
    listeners: LISTENERS,
    firewall: { backend: "nft", applied: true, matchesPlan: true },
    lastReconcile: { at: "2026-01-01T00:00:01.000Z", durationMs: 42, ok: true, steps: 3, error: null },
    lastProbe: null,
    dns: null,
    problems: [],
    ...overrides,
  };
}

export const sampleReport: ProbeReport = {
  at: "2026-01-01T00:00:02.000Z",
  ok: true,
  results: [
    { device: "device", hop: "device", listen: 80, target: 80, ok: true, ms: 1, error: null },
    { device: "device", hop: "end-to-end", listen: 80, target: 80, ok: true, ms: 2, error: null },
  ],
};

export class FakeControl implements AgentControl {
  readonly calls: ControlCall[] = [];
  /** Methods that reject with this message. */
  readonly failures = new Map<ControlMethod, string>();
  /** Methods that take this long before answering. */
  readonly delays = new Map<ControlMethod, number>();
  probeReport: ProbeReport = sampleReport;
  /** What reloadConfig resolves with. */
  reloadReport: ReloadReport = { restartNeeded: [] };
  private readonly status$: BehaviorSubject<AgentStatus>;
  /** Emissions that bypass the distinct filter, to check that subscribers do not rely on it. */
  private readonly raw$ = new Subject<AgentStatus>();
  readonly statusChanges: Observable<AgentStatus>;

  constructor(initial: AgentStatus = sampleStatus()) {
    this.status$ = new BehaviorSubject(initial);
    this.statusChanges = merge(
      this.status$.pipe(distinctUntilChanged((a, b) => JSON.stringify(a) === JSON.stringify(b))),
      this.raw$,
    );
  }

  status(): AgentStatus {
    return this.status$.value;
  }

  /** Changes the status, as the agent would after an event. */
  update(patch: Partial<AgentStatus>): void {
    this.status$.next({ ...this.status$.value, ...patch });
  }

  /** Emits the same status again, past the distinct filter (a subscriber must not publish a duplicate). */
  reemit(): void {
    this.raw$.next({ ...this.status$.value });
  }

  callsOf(method: ControlMethod): ControlCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  private async enter(method: ControlMethod, args: unknown[]): Promise<void> {
    this.calls.push({ method, args });
    const ms = this.delays.get(method);
    if (ms !== undefined) await new Promise((r) => setTimeout(r, ms));
    const failure = this.failures.get(method);
    if (failure !== undefined) throw new Error(failure);
  }

  async reconcile(): Promise<ReconcileReport | undefined> {
    await this.enter("reconcile", []);
    const report: ReconcileReport = {
      at: new Date().toISOString(),
      durationMs: 7,
      ok: true,
      steps: 1,
      error: null,
    };
    this.update({ lastReconcile: report });
    return report;
  }

  async restartListeners(): Promise<void> {
    await this.enter("restartListeners", []);
    this.update({
      listeners: this.status().listeners.map((l) => ({ ...l, restarts: l.restarts + 1 })),
    });
  }

  async probe(): Promise<ProbeReport> {
    await this.enter("probe", []);
    return this.probeReport;
  }

  async setEnabled(enabled: boolean): Promise<void> {
    await this.enter("setEnabled", [enabled]);
    this.update({ enabled, phase: enabled ? "serving" : "disabled" });
  }

  async reloadConfig(): Promise<ReloadReport> {
    await this.enter("reloadConfig", []);
    return this.reloadReport;
  }

  async setPorts(ports: PortMap[]): Promise<void> {
    await this.enter("setPorts", [ports]);
    this.update({ ports, portsSource: "runtime" });
  }

  async resetPorts(): Promise<void> {
    await this.enter("resetPorts", []);
    this.update({ ports: sampleStatus().ports, portsSource: "config" });
  }
}
