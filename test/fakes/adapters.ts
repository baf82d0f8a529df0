// Fakes of the effect adapters that record what they were asked to do.
import { Subject } from "rxjs";
import type { ListenerStatus } from "../../src/core/status.js";
import type { ListenerSpec, SnatRule } from "../../src/core/types.js";
import type { Firewall } from "../../src/effects/firewall/firewall.js";
import type { Listeners } from "../../src/effects/listeners/listeners.js";

export class FakeFirewall implements Firewall {
  readonly backend = "nft" as const;
  rule: SnatRule | null = null;
  calls: string[] = [];
  failNext = false;
  /** Simulates a change made behind the agent's back. */
  tamper(): void {
    this.rule = null;
  }
  apply(rule: SnatRule): Promise<void> {
    this.calls.push("apply");
    if (this.failNext) {
      this.failNext = false;
      return Promise.reject(new Error("nft failed: simulated"));
    }
    this.rule = rule;
    return Promise.resolve();
  }
  remove(): Promise<void> {
    this.calls.push("remove");
    this.rule = null;
    return Promise.resolve();
  }
  matches(rule: SnatRule | null): Promise<boolean> {
    return Promise.resolve(JSON.stringify(rule) === JSON.stringify(this.rule));
  }
}

export class FakeListeners implements Listeners {
  readonly changes = new Subject<void>();
  readonly running = new Map<number, ListenerSpec>();
  calls: string[] = [];
  /** Lets a test hold a start in flight, to see how many run at once. */
  startDelayMs = 0;
  concurrent = 0;
  maxConcurrent = 0;
  /** The most starts of one port at once: above 1 means two reconciles overlapped. */
  maxPerPort = 0;
  private readonly perPort = new Map<number, number>();
  private nextPid = 1000;
  private readonly pids = new Map<number, number>();

  async start(spec: ListenerSpec): Promise<void> {
    this.concurrent++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
    const port = (this.perPort.get(spec.listen) ?? 0) + 1;
    this.perPort.set(spec.listen, port);
    this.maxPerPort = Math.max(this.maxPerPort, port);
    this.calls.push(`start:${spec.listen}:${spec.wanAddress}`);
    if (this.startDelayMs > 0) await new Promise((r) => setTimeout(r, this.startDelayMs));
    this.running.set(spec.listen, spec);
    this.pids.set(spec.listen, this.nextPid++);
    this.perPort.set(spec.listen, port - 1);
    this.concurrent--;
    this.changes.next();
  }
  stop(listen: number): Promise<void> {
    this.calls.push(`stop:${listen}`);
    this.running.delete(listen);
    this.pids.delete(listen);
    this.changes.next();
    return Promise.resolve();
  }
  async stopAll(): Promise<void> {
    for (const listen of [...this.running.keys()]) await this.stop(listen);
  }
  statuses(): ListenerStatus[] {
    return [...this.running.values()].map((s) => ({
      listen: s.listen,
      target: s.target,
      state: "running" as const,
      pid: this.pids.get(s.listen) ?? null,
      restarts: 0,
      lastError: null,
      connections: 0,
      maxChildren: s.maxChildren,
      connectionErrors: 0,
    }));
  }
}
