// The pipeline: events -> facts -> plan -> coalesce -> reconcile (one at a time) -> status.
// The Agent is also what a dashboard steers (AgentControl).
import {
  BehaviorSubject,
  EMPTY as NOTHING,
  Subject,
  Subscription,
  asyncScheduler,
  distinctUntilChanged,
  filter,
  firstValueFrom,
  map,
  merge,
  of,
  scan,
  switchMap,
  take,
  throttle,
  throttleTime,
  timeout,
  timer,
  type Observable,
} from "rxjs";
import type { Logger } from "pino";
import { refusedTargets } from "./config/allowed-targets.js";
import { reloadedConfig, type ReloadReport } from "./config/reload.js";
import { leaseFiles, portsSchema, formatIssues } from "./config/schema.js";
import type { AgentControl, ProbeReport } from "./control.js";
import { applyStep, diff, sameDesired, sameSnat } from "./core/diff.js";
import { initialFacts, reduce } from "./core/facts.js";
import { failingHop, phaseOf } from "./core/phase.js";
import { plan as makePlan } from "./core/plan.js";
import type { AgentStatus, ReconcileReport } from "./core/status.js";
import type { Actual, Config, Desired, Event, Plan, PortMap, SnatRule, State, Step } from "./core/types.js";
import type { Firewall } from "./effects/firewall/firewall.js";
import type { Listeners } from "./effects/listeners/listeners.js";
import type { PersistedState, StateStore } from "./effects/state-store.js";
import { limitConcurrency } from "./util/limit.js";
import { dampFlaps, dampingSettings } from "./sources/damping.js";
import type { Problems } from "./util/problems.js";
import { runLatest } from "./util/run-latest.js";

export interface AgentDeps {
  config: Config;
  log: Logger;
  firewall: Firewall;
  listeners: Listeners;
  /** Interface snapshots (netlink). */
  links: Observable<Event>;
  /** Lease events for the given lease files (merged); re-subscribed when the config names other files. */
  leases: (files: readonly string[]) => Observable<Event>;
  /**
   * Neighbour table events of the LAN interface for the device's MAC (a static address is found there); subscribed
   * only while device.mac is set without device.address, re-subscribed when either changes.
   */
  neighbours?: (lan: string, mac: string) => Observable<Event>;
  /** Operator choices from an earlier run. */
  persisted?: PersistedState;
  store?: StateStore;
  /** Re-reads the config file (rejects with a ConfigError when it is invalid). */
  loadConfig?: () => Promise<Config>;
  probe?: (status: AgentStatus) => Promise<ProbeReport>;
  /**
   * Asks the sources to look again (an address snapshot, the lease file re-read), through their own one-at-a-time
   * path: each health tick calls it, so a lost netlink or file event heals within one tick.
   */
  lookAgain?: () => void;
  /**
   * Hints that our firewall rules may have changed behind our back (src/sources/nft-monitor.ts): each one runs the
   * read-back and repair of `reconcile()` at once, instead of at the next health tick.
   */
  firewallChanges?: Observable<unknown>;
  /** Problems outside the pipeline (files under runtimeDir that cannot be written), shown in the status. */
  problems?: Problems;
  version: string;
  now?: () => number;
}

const EMPTY: Actual = { snat: null, listeners: [] };
const RETRY_MS = { initial: 1000, max: 30000 };
/**
 * Listeners started or stopped at once within a reconcile: a renumbering of 64 ports takes 8 rounds instead of 64
 * one after the other, and a router with little memory never spawns 64 socats at the same moment.
 */
export const PARALLEL_STEPS = 8;
/** Stands for "our rules are not what we last applied": equal to no plan, so the next diff re-applies. */
const DRIFTED: SnatRule = { lanInterface: "", lanAddress: "", deviceAddress: "", ports: [] };

/** How long a health tick waits for the fresh address snapshot and lease read it asked for. */
const LOOK_AGAIN_TIMEOUT_MS = 3000;

/** A difference between wall-clock and monotonic time beyond this is a step of the wall clock, not drift. */
const CLOCK_STEP_MS = 2000;
/** How often probe() runs in all when reconciles keep changing what is in place under it. */
const PROBE_ATTEMPTS = 3;

export class Agent implements AgentControl {
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly config$: BehaviorSubject<Config>;
  private readonly input$ = new Subject<Event>();
  /** The type of every event the facts were reduced with, after the reduction. */
  private readonly observed$ = new Subject<Event["type"]>();
  private readonly kick$ = new Subject<void>();
  private readonly desired$ = new Subject<Desired>();
  private readonly status$ = new BehaviorSubject<AgentStatus | undefined>(undefined);
  private readonly subscriptions = new Subscription();
  private state: State;
  private plan: Plan;
  private actual: Actual = EMPTY;
  private seenLinks = false;
  private seenLeases = false;
  private stopping = false;
  private reconciling = false;
  /** The operator's choices as last saved; changed only by changeChoices. */
  private choices: PersistedState;
  /** The tail of the operator commands' queue (changeChoices). */
  private choicesTail: Promise<unknown> = Promise.resolve();
  /** The tail of the exclusive section: every change to what is in place runs after the one before. */
  private tail: Promise<unknown> = Promise.resolve();
  private lastReconcile: ReconcileReport | null = null;
  private lastProbe: ProbeReport | null = null;
  /** Counts reconciles that changed what is in place: a probe that spans a change tested a setup now gone. */
  private placeGeneration = 0;
  private probing: Promise<ProbeReport> | undefined;
  /** The phase and reason last logged: each change is logged once. */
  private loggedPhase: string | undefined;
  private retryMs = RETRY_MS.initial;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Wall-clock start; re-derived from monotonic time when the wall clock steps (see startedAtNow). */
  private startedAtMs: number;
  private readonly startedMono = performance.now();

  readonly statusChanges: Observable<AgentStatus>;

  constructor(private readonly deps: AgentDeps) {
    this.log = deps.log;
    this.now = deps.now ?? Date.now;
    this.startedAtMs = this.now();
    this.config$ = new BehaviorSubject(deps.config);
    this.choices = { enabled: deps.persisted?.enabled ?? true, ports: deps.persisted?.ports };
    const facts = { ...initialFacts, ...this.choices };
    this.state = { config: deps.config, facts };
    this.plan = makePlan(this.state.facts, this.state.config);
    this.statusChanges = this.status$.pipe(
      filter((s): s is AgentStatus => s !== undefined),
      distinctUntilChanged((a, b) => JSON.stringify(a) === JSON.stringify(b)),
    );
  }

  start(): void {
    const { deps } = this;
    const leases = this.config$.pipe(
      map(leaseFiles),
      distinctUntilChanged((a, b) => a.join("\n") === b.join("\n")),
      switchMap((files) => deps.leases(files)),
    );
    // A device found by MAC alone may have a static address: the neighbour table is watched for it.
    const neighbours = this.config$.pipe(
      map(({ device, lan }) =>
        device.mac !== undefined && device.address === undefined
          ? { lan: lan.interface, mac: device.mac }
          : undefined,
      ),
      distinctUntilChanged((a, b) => a?.lan === b?.lan && a?.mac === b?.mac),
      switchMap((w) =>
        w === undefined || deps.neighbours === undefined ? NOTHING : deps.neighbours(w.lan, w.mac),
      ),
    );
    // Flap damping sits between the netlink source and reduce (src/sources/damping.ts): the core stays clock-free.
    const links = deps.links.pipe(dampFlaps(() => dampingSettings(this.state.config)));
    const states = merge(links, leases, neighbours, this.input$).pipe(
      scan(
        ([state]: [State, Event["type"]], event: Event): [State, Event["type"]] => {
          if (event.type === "links") this.seenLinks = true;
          if (event.type === "leases") this.seenLeases = true;
          return [reduce(state, event), event.type];
        },
        [this.state, "config"],
      ),
    );
    // A change in what we want, or a kick (retry), asks for a reconcile. The first request is served at once;
    // a burst collapses into at most one more at the end of debounceMs. The reconcile reads the latest plan when
    // it runs, so it never acts on a stale one.
    this.subscriptions.add(
      merge(this.desired$.pipe(distinctUntilChanged(sameDesired)), this.kick$)
        .pipe(
          throttleTime(this.state.config.debounceMs, asyncScheduler, { leading: true, trailing: true }),
          runLatest(() => this.exclusive(() => this.reconcileNow(false))),
        )
        .subscribe(),
    );
    this.subscriptions.add(
      states.subscribe(([state, event]) => {
        this.state = state;
        this.plan = makePlan(state.facts, state.config);
        this.desired$.next(this.plan.desired);
        this.publish();
        this.observed$.next(event);
      }),
    );
    this.subscriptions.add(deps.listeners.changes.subscribe(() => this.publish()));
    if (deps.firewallChanges !== undefined) this.subscriptions.add(this.watchFirewall(deps.firewallChanges));
    if (deps.problems !== undefined)
      this.subscriptions.add(deps.problems.changes.subscribe(() => this.publish()));
    this.publish();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearTimeout(this.retryTimer);
    this.subscriptions.unsubscribe();
    this.publish();
    // A reconcile in progress ends once its steps in flight are done (executeAll starts no more); then everything goes.
    await this.exclusive(async () => {
      await this.deps.listeners.stopAll();
      try {
        await this.deps.firewall.remove();
      } catch (e) {
        this.log.error({ error: String(e) }, "cannot remove our firewall rules");
      }
      this.actual = EMPTY;
    });
    this.log.info("stopped");
  }

  // ---- AgentControl ----

  status(): AgentStatus {
    return this.buildStatus();
  }

  reconcile(): Promise<ReconcileReport | undefined> {
    return this.exclusive(() => this.reconcileNow(true));
  }

  restartListeners(): Promise<void> {
    return this.exclusive(async () => {
      await this.deps.listeners.stopAll();
      this.actual = { ...this.actual, listeners: [] };
      await this.reconcileNow(false);
    });
  }

  /**
   * Probes each hop; the report becomes the phase's evidence. A probe during which a reconcile changed what is in
   * place (a renumbering moved the listeners) tested something now gone: it is taken again, at most
   * PROBE_ATTEMPTS times in all, so a switch is never reported as a failure until the next tick.
   */
  probe(): Promise<ProbeReport> {
    // One probe at a time: a caller arriving meanwhile (tick, MQTT command, after a reconcile) shares its answer.
    this.probing ??= this.probeNow().finally(() => (this.probing = undefined));
    return this.probing;
  }

  private async probeNow(): Promise<ProbeReport> {
    const { probe } = this.deps;
    if (probe === undefined) throw new Error("probes are not available");
    let report: ProbeReport;
    for (let attempt = 1; ; attempt++) {
      const generation = this.placeGeneration;
      report = await probe(this.buildStatus());
      if (generation === this.placeGeneration || attempt >= PROBE_ATTEMPTS) break;
    }
    this.lastProbe = report;
    this.publish();
    return report;
  }

  /**
   * The scheduled health tick: look again at addresses and leases (a lost event heals here), repair drift (logged
   * by verify), then probe each hop.
   */
  async healthTick(): Promise<ProbeReport> {
    await this.lookAgain();
    await this.reconcile();
    return this.probe();
  }

  setEnabled(enabled: boolean): Promise<void> {
    return this.changeChoices((current) => ({ ...current, enabled }));
  }

  setPorts(ports: PortMap[]): Promise<void> {
    const checked = portsSchema.safeParse(ports);
    if (!checked.success)
      return Promise.reject(
        new Error(
          formatIssues(checked.error)
            .map((m) => `ports.${m}`)
            .join("; "),
        ),
      );
    return this.changeChoices((current) => {
      // Checked in turn, against the config as it is then (a reload may have tightened allowedTargets).
      const refused = refusedTargets(checked.data, this.state.config);
      if (refused !== undefined) throw new Error(refused);
      return { ...current, ports: checked.data };
    });
  }

  resetPorts(): Promise<void> {
    return this.changeChoices((current) => ({ ...current, ports: undefined }));
  }

  /** The configuration in force: the file as last (re)loaded, restart-only fields as at start (config/reload.ts). */
  get config(): Config {
    return this.state.config;
  }

  async reloadConfig(): Promise<ReloadReport> {
    if (this.deps.loadConfig === undefined) throw new Error("reload is not available");
    const { config, restartNeeded } = reloadedConfig(this.state.config, await this.deps.loadConfig());
    if (restartNeeded.length > 0)
      this.log.warn(
        { restartNeeded },
        `changes to ${restartNeeded.join(", ")} take effect at the next restart; the old values stay in use until then`,
      );
    // The process's logger (children follow it); the runner reads commandTimeoutMs from `config` at each command.
    this.log.level = config.logLevel;
    this.dispatch({ type: "config", config });
    this.log.info("configuration reloaded");
    return { restartNeeded };
  }

  // ---- internals ----

  /**
   * Asks the sources for a fresh address snapshot and lease read, and waits until both are in the facts (or
   * LOOK_AGAIN_TIMEOUT_MS passed: a source that cannot read says so in its own log).
   */
  private async lookAgain(): Promise<void> {
    if (this.deps.lookAgain === undefined) return;
    const arrived = (type: Event["type"]) =>
      firstValueFrom(
        this.observed$.pipe(
          filter((t) => t === type),
          take(1),
          timeout({ first: LOOK_AGAIN_TIMEOUT_MS, with: () => of(undefined) }),
        ),
        { defaultValue: undefined },
      );
    const both = Promise.all([arrived("links"), arrived("leases")]);
    this.deps.lookAgain();
    await both;
  }

  /**
   * Each hint runs the drift check (read back, repair what differs) through the exclusive section, one at a time,
   * hints meanwhile folded into one more. Our own writes send hints too: the check that follows a repair finds
   * everything in place and changes nothing. Should it find drift again after each repair (a read-back that never
   * matches what this nft prints, or another program fighting us), the checks back off like failed reconciles
   * (1 s doubling to 30 s), so the watch cannot turn into a repair loop.
   */
  private watchFirewall(hints: Observable<unknown>): Subscription {
    let repairsInARow = 0;
    // One repair and its echo are normal: the hold starts with the second repair in a row.
    const holdMs = () =>
      repairsInARow < 2 ? 0 : Math.min(RETRY_MS.initial * 2 ** (repairsInARow - 2), RETRY_MS.max);
    return hints
      .pipe(
        throttle(() => timer(holdMs()), { leading: true, trailing: true }),
        runLatest(async () => {
          const report = await this.reconcile().catch((e: unknown) => {
            this.log.error({ error: String(e) }, "cannot check our firewall rules");
            return undefined;
          });
          repairsInARow = report !== undefined && report.steps > 0 ? repairsInARow + 1 : 0;
        }),
      )
      .subscribe();
  }

  /** Feeds an event from outside the sources (operator command, reload). */
  private dispatch(event: Event): void {
    if (event.type === "config") this.config$.next(event.config);
    this.input$.next(event);
  }

  /**
   * One operator command at a time, each a whole unit: read the choices as the previous command left them, save
   * the changed ones, then apply them. Commands sent back to back (disable then enable) end with the last one's
   * effect, and what is saved is always what is applied. A change that throws, or a failed save, changes nothing.
   */
  private changeChoices(change: (current: PersistedState) => PersistedState): Promise<void> {
    const run = this.choicesTail.then(async () => {
      const next = change(this.choices);
      await this.deps.store?.save(next);
      const previous = this.choices;
      this.choices = next;
      if (next.enabled !== previous.enabled) this.dispatch({ type: "enabled", enabled: next.enabled });
      if (next.ports !== previous.ports) this.dispatch({ type: "ports", ports: next.ports });
    });
    this.choicesTail = run.catch(() => undefined);
    return run;
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async execute(step: Step): Promise<void> {
    const { firewall, listeners } = this.deps;
    switch (step.kind) {
      case "stop-listener":
        return listeners.stop(step.spec.listen);
      case "start-listener":
        return listeners.start(step.spec);
      case "apply-snat":
        return firewall.apply(step.rule);
      case "remove-snat":
        return firewall.remove();
    }
  }

  /**
   * Runs diff's steps in its three phases, each finished before the next begins: stops (a changed listener frees its
   * port), then the firewall (SNAT in place before new listeners accept), then starts. Within a phase the steps touch
   * different ports, so up to PARALLEL_STEPS run at once. A stop (this.stopping) lets the steps in flight finish and
   * starts no more. Tracks this.actual step by step; returns how many steps ran (failed ones included).
   */
  private async executeAll(steps: Step[], errors: string[]): Promise<number> {
    const phases = [
      steps.filter((s) => s.kind === "stop-listener"),
      steps.filter((s) => s.kind === "apply-snat" || s.kind === "remove-snat"),
      steps.filter((s) => s.kind === "start-listener"),
    ];
    let done = 0;
    for (const phase of phases) {
      const limit = limitConcurrency(PARALLEL_STEPS);
      await Promise.all(
        phase.map((step) =>
          limit(async () => {
            if (this.stopping) return;
            try {
              await this.execute(step);
              this.actual = applyStep(this.actual, step);
            } catch (e) {
              errors.push(e instanceof Error ? e.message : String(e));
              this.log.error({ step: step.kind, error: String(e) }, "reconcile step failed");
            }
            done++;
          }),
        ),
      );
    }
    return done;
  }

  /** Reads back what is in place and forgets what is no longer there, so the diff repairs it. */
  private async verify(): Promise<void> {
    const running = new Set(this.deps.listeners.statuses().map((l) => l.listen));
    const listeners = this.actual.listeners.filter((l) => running.has(l.listen));
    let snat = this.actual.snat;
    if (!(await this.deps.firewall.matches(snat).catch(() => false))) {
      this.log.warn({ expected: snat }, "firewall rules changed behind our back; repairing");
      snat = DRIFTED;
    }
    if (listeners.length !== this.actual.listeners.length) this.log.warn("a listener vanished; repairing");
    this.actual = { snat, listeners };
  }

  /**
   * The start time as the wall clock tells it now. A gateway often starts the agent before its first NTP sync; once
   * the clock steps, the start time (and the uptime derived from it) follows instead of spanning the step.
   */
  private startedAtNow(): string {
    const derived = this.now() - (performance.now() - this.startedMono);
    if (Math.abs(derived - this.startedAtMs) > CLOCK_STEP_MS) this.startedAtMs = derived;
    return new Date(this.startedAtMs).toISOString();
  }

  private async reconcileNow(verify: boolean): Promise<ReconcileReport | undefined> {
    if (this.stopping) return undefined;
    if (verify) await this.verify();
    const steps = diff(this.actual, this.plan.desired);
    const started = this.now();
    const startedMono = performance.now(); // the duration must not include a step of the wall clock
    // Nothing to do: a fresh answer of its own, not kept as lastReconcile, so the status (and the retained MQTT
    // state) does not change at every health tick.
    if (steps.length === 0)
      return { at: new Date(started).toISOString(), durationMs: 0, ok: true, steps: 0, error: null };
    this.reconciling = true;
    this.publish();
    const errors: string[] = [];
    const done = await this.executeAll(steps, errors);
    this.reconciling = false;
    if (done > 0) this.placeGeneration++;
    if (done < steps.length) {
      // Cut short by stop(), which removes everything anyway: no report, no retry.
      this.log.info({ done, steps: steps.length }, "reconcile ended early: stopping");
      return undefined;
    }
    const report: ReconcileReport = {
      at: new Date(started).toISOString(),
      durationMs: Math.round(performance.now() - startedMono),
      ok: errors.length === 0,
      steps: steps.length,
      error: errors.length === 0 ? null : errors.join("; "),
    };
    this.lastReconcile = report;
    this.log.info(
      { steps: steps.map((s) => s.kind), durationMs: report.durationMs, ok: report.ok },
      "reconciled",
    );
    this.scheduleRetry(report.ok);
    this.publish();
    // A failed probe described the setup before this change: look again now rather than at the next tick.
    if (report.ok) this.reprobeIfFailed();
    return report;
  }

  private reprobeIfFailed(): void {
    if (this.stopping || this.lastProbe?.ok !== false || this.deps.probe === undefined) return;
    this.probe().catch((e: unknown) => this.log.warn({ error: String(e) }, "probe after a reconcile failed"));
  }

  private scheduleRetry(ok: boolean): void {
    clearTimeout(this.retryTimer);
    if (ok) {
      this.retryMs = RETRY_MS.initial;
      return;
    }
    this.retryTimer = setTimeout(() => this.kick$.next(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MS.max);
  }

  private buildStatus(): AgentStatus {
    const { config, facts } = this.state;
    const listeners = this.deps.listeners.statuses();
    const problems = this.deps.problems?.list() ?? [];
    const converging = this.reconciling || !sameDesired(this.actual, this.plan.desired);
    const failed =
      this.lastReconcile !== null && !this.lastReconcile.ok && converging ? this.lastReconcile.error : null;
    const phase = phaseOf({
      observed: this.seenLinks && this.seenLeases,
      stopping: this.stopping,
      plan: this.plan,
      converging,
      reconcileError: failed ?? undefined,
      listeners,
      probeFailure: this.lastProbe === null ? undefined : failingHop(this.lastProbe),
    });
    return {
      pid: process.pid,
      version: this.deps.version,
      startedAt: this.startedAtNow(),
      phase: phase.phase,
      waitingFor: phase.waitingFor ?? null,
      // A problem is the reason when the phase has none of its own: a dashboard shows reason, not problems.
      reason: phase.reason ?? problems[0] ?? null,
      enabled: facts.enabled,
      ports: facts.ports ?? config.ports,
      portsSource: facts.ports === undefined ? "config" : "runtime",
      wan: { interface: config.wan.interface, address: facts.wanAddress ?? null },
      flaps: facts.flaps,
      lan: { interface: config.lan.interface, address: this.plan.lanAddress ?? null },
      device: {
        mac: this.plan.device.mac ?? null,
        address: this.plan.device.address ?? null,
        source: this.plan.device.source ?? null,
      },
      listeners,
      firewall: {
        backend: this.deps.firewall.backend,
        applied: this.actual.snat !== null && this.actual.snat !== DRIFTED,
        matchesPlan: sameSnat(this.actual.snat, this.plan.desired.snat),
      },
      lastReconcile: this.lastReconcile,
      lastProbe: this.lastProbe,
      problems,
    };
  }

  private publish(): void {
    const status = this.buildStatus();
    this.logPhase(status);
    this.status$.next(status);
  }

  /** Logs a change of phase (or of its reason) once: degraded as a warning, any other phase as info. */
  private logPhase(status: AgentStatus): void {
    const { phase, reason, waitingFor } = status;
    const key = JSON.stringify([phase, reason]);
    if (key === this.loggedPhase) return;
    this.loggedPhase = key;
    this.log[phase === "degraded" ? "warn" : "info"]({ phase, reason, waitingFor }, `phase ${phase}`);
  }
}
