// The one owner of what is in place: it turns the latest plan into steps (diff), runs them one reconcile at a time,
// tracks what each step left in place, reads it back on request (drift), keeps the last report and schedules the
// retry of a failed reconcile. The Agent decides when to reconcile; this decides how.
import type { Logger } from "pino";
import { applyStep, diff } from "./core/diff.js";
import type { ReconcileReport } from "./core/status.js";
import { listenerKey, type Actual, type Desired, type SnatRule, type Step } from "./core/types.js";
import type { OwnAddresses } from "./effects/addresses.js";
import type { Firewall } from "./effects/firewall/firewall.js";
import type { Listeners } from "./effects/listeners/listeners.js";
import { limitConcurrency } from "./util/limit.js";

export interface ReconcilerDeps {
  firewall: Firewall;
  listeners: Listeners;
  /** The devices' own IPv6 addresses. */
  addresses: OwnAddresses;
  log: Logger;
  /** The desired state as the core computes it now; read when a reconcile runs, so it never acts on a stale one. */
  desired: () => Desired;
  /** Something changed that the status shows (reconciling, what is in place, a report). */
  changed: () => void;
  /** Asks for another reconcile (the retry after a failure); the Agent routes it through its coalescing. */
  retry: () => void;
  now?: () => number;
}

/** A step that failed: the device it was for (none for removing our rules), the listen port of a listener's. */
export interface StepFailure {
  device: string;
  listen: number | null;
  error: string;
}

export const EMPTY: Actual = { snat: [], listeners: [], addresses: [] };
const RETRY_MS = { initial: 1000, max: 30000 };
/** The back-off of a failed reconcile, and of a firewall watch that keeps finding drift (Agent.watchFirewall). */
export const RETRY_BACKOFF_MS = RETRY_MS;
/**
 * Listeners started or stopped at once within a reconcile: a renumbering of 64 ports takes 8 rounds instead of 64
 * one after the other, and a router with little memory never spawns 64 socats at the same moment.
 */
export const PARALLEL_STEPS = 8;
/** Stands for "our rules are not what we last applied": equal to no plan, so the next diff re-applies. */
const DRIFTED: SnatRule[] = [{ device: "", lanInterface: "", lanAddress: "", deviceAddress: "", ports: [] }];

export class Reconciler {
  private actualState: Actual = EMPTY;
  private tail: Promise<unknown> = Promise.resolve();
  private reconcilingNow = false;
  private stopping = false;
  private report: ReconcileReport | null = null;
  private failed: StepFailure[] = [];
  private generationCount = 0;
  private retryMs = RETRY_MS.initial;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly deps: ReconcilerDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** What is in place, as the last steps left it and the last read-back confirmed it. */
  get actual(): Actual {
    return this.actualState;
  }

  /** True while a reconcile runs its steps. */
  get reconciling(): boolean {
    return this.reconcilingNow;
  }

  /** The last reconcile that did something; null before the first. */
  get lastReport(): ReconcileReport | null {
    return this.report;
  }

  /**
   * The steps of the last reconcile that failed, each with the device it was for: a device's own phase names them
   * while what is in place for it still differs from its plan. Empty before the first reconcile and after one that
   * went well.
   */
  get failures(): readonly StepFailure[] {
    return this.failed;
  }

  /** Counts reconciles that changed what is in place: a probe that spans a change tested a setup now gone. */
  get generation(): number {
    return this.generationCount;
  }

  /** True when our firewall rules are in place as last applied (not known to have drifted). */
  get firewallApplied(): boolean {
    return this.actualState.snat.length > 0 && this.actualState.snat !== DRIFTED;
  }

  /** Runs `work` after every change to what is in place queued before it: one at a time, in call order. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Brings what is in place to the desired state, in the exclusive section. verify: read back first (firewall rules,
   * running listeners), so drift is repaired. Resolves undefined when cut short by stop(); a report of 0 steps when
   * nothing was to do (not kept as lastReport, so the status does not change at every health tick).
   */
  reconcile(verify: boolean): Promise<ReconcileReport | undefined> {
    return this.exclusive(() => this.reconcileNow(verify));
  }

  /**
   * Takes over the own addresses an earlier run recorded and left on their interfaces, before any reconcile: the
   * diff then keeps those still wanted (no second DAD, no gap) and removes the others.
   */
  adopt(): Promise<void> {
    return this.exclusive(async () => {
      try {
        const addresses = await this.deps.addresses.adopt();
        this.actualState = { ...this.actualState, addresses };
      } catch (e) {
        this.deps.log.error({ error: String(e) }, "cannot read the addresses an earlier run recorded");
      }
    });
  }

  /** Stops every listener, then reconciles (they start again from the plan). */
  restartListeners(): Promise<void> {
    return this.exclusive(async () => {
      await this.deps.listeners.stopAll();
      this.actualState = { ...this.actualState, listeners: [] };
      await this.reconcileNow(false);
    });
  }

  /** Lets the steps in flight finish, starts no more, then removes every listener, our rules and our addresses. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.retryTimer);
    await this.exclusive(async () => {
      await this.deps.listeners.stopAll();
      try {
        await this.deps.firewall.remove();
      } catch (e) {
        this.deps.log.error({ error: String(e) }, "cannot remove our firewall rules");
      }
      // After the listeners that bound them.
      await this.deps.addresses.removeAll();
      this.actualState = EMPTY;
    });
  }

  private async reconcileNow(verify: boolean): Promise<ReconcileReport | undefined> {
    if (this.stopping) return undefined;
    if (verify) await this.verify();
    const steps = diff(this.actualState, this.deps.desired());
    const started = this.now();
    const startedMono = performance.now(); // the duration must not include a step of the wall clock
    if (steps.length === 0)
      return { at: new Date(started).toISOString(), durationMs: 0, ok: true, steps: 0, error: null };
    this.reconcilingNow = true;
    this.deps.changed();
    const errors: string[] = [];
    const failures: StepFailure[] = [];
    const done = await this.executeAll(steps, errors, failures);
    this.reconcilingNow = false;
    if (done > 0) this.generationCount++;
    if (done < steps.length) {
      // Cut short by stop(), which removes everything anyway: no report, no retry.
      this.deps.log.info({ done, steps: steps.length }, "reconcile ended early: stopping");
      return undefined;
    }
    const report: ReconcileReport = {
      at: new Date(started).toISOString(),
      durationMs: Math.round(performance.now() - startedMono),
      ok: errors.length === 0,
      steps: steps.length,
      error: errors.length === 0 ? null : errors.join("; "),
    };
    this.report = report;
    this.failed = failures;
    this.deps.log.info(
      { steps: steps.map((s) => s.kind), durationMs: report.durationMs, ok: report.ok },
      "reconciled",
    );
    this.scheduleRetry(report.ok);
    this.deps.changed();
    return report;
  }

  /** Reads back what is in place and forgets what is no longer there, so the diff repairs it. */
  private async verify(): Promise<void> {
    const running = new Set(this.deps.listeners.statuses().map(listenerKey));
    const listeners = this.actualState.listeners.filter((l) => running.has(listenerKey(l)));
    let snat = this.actualState.snat;
    if (!(await this.deps.firewall.matches(snat).catch(() => false))) {
      this.deps.log.warn({ expected: snat }, "firewall rules changed behind our back; repairing");
      snat = DRIFTED;
    }
    if (listeners.length !== this.actualState.listeners.length)
      this.deps.log.warn("a listener vanished; repairing");
    const wanted = this.actualState.addresses;
    const addresses = await this.deps.addresses.present(wanted).catch(() => wanted);
    if (addresses.length !== wanted.length) this.deps.log.warn("an own address vanished; repairing");
    this.actualState = { snat, listeners, addresses };
  }

  private async execute(step: Step): Promise<void> {
    const { firewall, listeners } = this.deps;
    switch (step.kind) {
      case "stop-listener":
        return listeners.stop(listenerKey(step.spec));
      case "start-listener":
        return listeners.start(step.spec);
      case "apply-snat":
        return firewall.apply(step.rules);
      case "remove-snat":
        return firewall.remove();
      case "add-address":
        return this.deps.addresses.add(step.address);
      case "remove-address":
        return this.deps.addresses.remove(step.address);
    }
  }

  /**
   * Runs diff's steps in its three phases, each finished before the next begins: stops of listeners that go away (a
   * freed port), then the firewall and the own addresses (SNAT in place before new listeners accept; an address
   * removed after its listeners stopped, added before its listeners start), then starts. A changed listener (diff's
   * stop and start of one key) is replaced by its start alone, as Listeners.start replaces the listener of its key:
   * socat stops the old process just before it spawns the new one, HAProxy loads both changes in one reload. So a
   * renumbering runs no round of stops before its starts, and HAProxy is never left with nothing to serve (a stop of
   * its master and a start of a new one); an old listener whose own address went meanwhile keeps its socket until it
   * is replaced. Within a phase the steps touch different listeners or addresses, so several run at once: up to
   * `listeners.concurrency` (else PARALLEL_STEPS) listeners, PARALLEL_STEPS others (each is a command). A stop lets
   * the steps in flight finish and starts no more. Tracks what is in place step by step; returns how many steps ran (failed ones included).
   */
  private async executeAll(steps: Step[], errors: string[], failures: StepFailure[]): Promise<number> {
    const keys = (kind: Step["kind"]) =>
      new Set(steps.flatMap((s) => (s.kind === kind && "spec" in s ? [listenerKey(s.spec)] : [])));
    const starts = keys("start-listener");
    const stops = keys("stop-listener");
    const forListeners = this.deps.listeners.concurrency ?? PARALLEL_STEPS;
    const phases: [Step[], number][] = [
      [steps.filter((s) => s.kind === "stop-listener" && !starts.has(listenerKey(s.spec))), forListeners],
      [steps.filter((s) => s.kind !== "stop-listener" && s.kind !== "start-listener"), PARALLEL_STEPS],
      [steps.filter((s) => s.kind === "start-listener"), forListeners],
    ];
    let done = 0;
    for (const [phase, concurrency] of phases) {
      const limit = limitConcurrency(concurrency);
      await Promise.all(
        phase.map((step) =>
          limit(async () => {
            if (this.stopping) return;
            // A start that replaces a listener counts for diff's stop of it too.
            const count = step.kind === "start-listener" && stops.has(listenerKey(step.spec)) ? 2 : 1;
            try {
              await this.execute(step);
              this.actualState = applyStep(this.actualState, step);
            } catch (e) {
              const error = e instanceof Error ? e.message : String(e);
              errors.push(error);
              failures.push(...failuresOf(step, error));
              this.deps.log.error({ step: step.kind, error: String(e) }, "reconcile step failed");
              // A start that failed left nothing of its key running, the listener it replaced included.
              if (step.kind === "start-listener")
                this.actualState = applyStep(this.actualState, { kind: "stop-listener", spec: step.spec });
            }
            done += count;
          }),
        ),
      );
    }
    return done;
  }

  private scheduleRetry(ok: boolean): void {
    clearTimeout(this.retryTimer);
    if (ok) {
      this.retryMs = RETRY_MS.initial;
      return;
    }
    this.retryTimer = setTimeout(() => this.deps.retry(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MS.max);
  }
}

/** Whom a failed step concerns: a listener's or an address's device, every device a firewall rule serves. */
function failuresOf(step: Step, error: string): StepFailure[] {
  switch (step.kind) {
    case "start-listener":
    case "stop-listener":
      return [{ device: step.spec.device, listen: step.spec.listen, error }];
    case "apply-snat":
      return step.rules.map((r) => ({ device: r.device, listen: null, error }));
    case "remove-snat":
      return [];
    case "add-address":
    case "remove-address":
      return [{ device: step.address.device, listen: null, error }];
  }
}
