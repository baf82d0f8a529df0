// Fakes of the effect adapters that record what they were asked to do.
import { BehaviorSubject, Subject, filter } from "rxjs";
import type { ListenerStatus } from "../../src/core/status.js";
import { listenerKey, type ListenerSpec, type OwnAddress, type SnatRule } from "../../src/core/types.js";
import type { OwnAddresses } from "../../src/effects/addresses.js";
import type { Firewall } from "../../src/effects/firewall/firewall.js";
import type { Listeners } from "../../src/effects/listeners/listeners.js";

export class FakeFirewall implements Firewall {
  readonly backend = "nft" as const;
  rules: SnatRule[] = [];
  calls: string[] = [];
  failNext = false;
  /** Simulates a change made behind the agent's back. */
  tamper(): void {
    this.rules = [];
  }
  /** The one device's rule (most tests have one device); null when none. */
  get rule(): SnatRule | null {
    return this.rules[0] ?? null;
  }
  apply(rules: readonly SnatRule[]): Promise<void> {
    this.calls.push("apply");
    if (this.failNext) {
      this.failNext = false;
      return Promise.reject(new Error("nft failed: simulated"));
    }
    this.rules = [...rules];
    return Promise.resolve();
  }
  remove(): Promise<void> {
    this.calls.push("remove");
    this.rules = [];
    return Promise.resolve();
  }
  matches(rules: readonly SnatRule[]): Promise<boolean> {
    return Promise.resolve(JSON.stringify(rules) === JSON.stringify(this.rules));
  }
}

/** How calls name a listener: its port for the one-device shorthand's device (as in 0.1 tests), else its key. */
const label = (spec: { device: string; listen: number }) =>
  spec.device === "device" ? String(spec.listen) : listenerKey(spec);

export class FakeListeners implements Listeners {
  readonly changes = new Subject<void>();
  /** By listener key (listenerKey). */
  readonly running = new Map<string, ListenerSpec>();
  calls: string[] = [];
  /** Lets a test hold a start in flight, to see how many run at once. */
  startDelayMs = 0;
  /** As Listeners.concurrency: unset, the Reconciler's PARALLEL_STEPS. */
  concurrency: number | undefined;
  /** Listen ports whose start fails; like the real backends, a failed start leaves nothing of its key running. */
  readonly failing = new Set<number>();
  concurrent = 0;
  maxConcurrent = 0;
  /** The most starts of one port at once: above 1 means two reconciles overlapped. */
  maxPerPort = 0;
  private readonly perPort = new Map<string, number>();
  private nextPid = 1000;
  private readonly pids = new Map<string, number>();

  async start(spec: ListenerSpec): Promise<void> {
    this.concurrent++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
    const key = listenerKey(spec);
    const port = (this.perPort.get(key) ?? 0) + 1;
    this.perPort.set(key, port);
    this.maxPerPort = Math.max(this.maxPerPort, port);
    this.calls.push(`start:${label(spec)}:${spec.wanAddress}`);
    if (this.startDelayMs > 0) await new Promise((r) => setTimeout(r, this.startDelayMs));
    if (this.failing.has(spec.listen)) {
      this.running.delete(key);
      this.perPort.set(key, port - 1);
      this.concurrent--;
      throw new Error(`listener :${String(spec.listen)} failed`);
    }
    this.running.set(key, spec);
    this.pids.set(key, this.nextPid++);
    this.perPort.set(key, port - 1);
    this.concurrent--;
    this.changes.next();
  }
  stop(key: string): Promise<void> {
    const spec = this.running.get(key);
    this.calls.push(`stop:${spec === undefined ? key : label(spec)}`);
    this.running.delete(key);
    this.pids.delete(key);
    this.changes.next();
    return Promise.resolve();
  }
  async stopAll(): Promise<void> {
    for (const key of [...this.running.keys()]) await this.stop(key);
  }
  statuses(): ListenerStatus[] {
    return [...this.running.values()].map((s) => ({
      device: s.device,
      listen: s.listen,
      target: s.target,
      state: "running" as const,
      pid: this.pids.get(listenerKey(s)) ?? null,
      restarts: 0,
      lastError: null,
      connections: 0,
      maxChildren: s.maxChildren,
      connectionErrors: 0,
    }));
  }
}

/** Records the own addresses it was asked to add and remove; `held` is what is "on the interface". */
export class FakeAddresses implements OwnAddresses {
  /** Ours: what it added (or adopted), also its record. */
  held: OwnAddress[] = [];
  /** What adopt() returns: an earlier run's record. */
  recorded: OwnAddress[] = [];
  calls: string[] = [];
  private readonly record = new BehaviorSubject<OwnAddress[] | undefined>(undefined);
  readonly records = this.record.pipe(filter((r): r is OwnAddress[] => r !== undefined));
  private changed(): void {
    this.record.next([...this.held]);
  }
  adopt(): Promise<OwnAddress[]> {
    this.held = [...this.recorded];
    this.changed();
    return Promise.resolve(this.held);
  }
  add(a: OwnAddress): Promise<void> {
    this.calls.push(`add:${a.device}:${a.address}`);
    this.held = [...this.held.filter((b) => b.address !== a.address), a];
    this.changed();
    return Promise.resolve();
  }
  remove(a: OwnAddress): Promise<void> {
    this.calls.push(`remove:${a.device}:${a.address}`);
    this.held = this.held.filter((b) => b.address !== a.address);
    this.changed();
    return Promise.resolve();
  }
  removeAll(): Promise<void> {
    this.calls.push("removeAll");
    this.held = [];
    this.changed();
    return Promise.resolve();
  }
  present(addresses: readonly OwnAddress[]): Promise<OwnAddress[]> {
    return Promise.resolve(addresses.filter((a) => this.held.some((b) => b.address === a.address)));
  }
}
