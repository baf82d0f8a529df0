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
import { ReloadRefused, reloadedConfig, type ReloadReport } from "./config/reload.js";
import {
  leaseFiles,
  portsSchema,
  formatIssues,
  runtimePortProblems,
  tooManyListeners,
} from "./config/schema.js";
import { expandPorts, mappingText, portCount } from "./core/ports.js";
import type { AgentControl, ProbeReport } from "./control.js";
import { sameDesired, sameSnat } from "./core/diff.js";
import { deviceHopsOf, initialFacts, reduce } from "./core/facts.js";
import { devicePhaseOf, failingHop, phaseOf, type DevicePhase } from "./core/phase.js";
import { plan as makePlan, UNREACHABLE_AFTER } from "./core/plan.js";
import { deviceHostname } from "./core/dns.js";
import type { AgentStatus, DeviceStatus, DnsStatus, ReconcileReport } from "./core/status.js";
import {
  choicesOf,
  type Config,
  type DeviceChoices,
  type DeviceConfig,
  type Desired,
  type DevicePlan,
  type Event,
  type OperatorChoices,
  type Plan,
  type PortMap,
  type State,
} from "./core/types.js";
import type { OwnAddresses } from "./effects/addresses.js";
import type { Firewall } from "./effects/firewall/firewall.js";
import type { Listeners } from "./effects/listeners/listeners.js";
import type { PersistedState, StateStore } from "./effects/state-store.js";
import { Reconciler, RETRY_BACKOFF_MS } from "./reconciler.js";
import { dampFlaps, dampingSettings } from "./sources/damping.js";
import type { Problems } from "./util/problems.js";
import { runLatest } from "./util/run-latest.js";

export interface AgentDeps {
  config: Config;
  log: Logger;
  firewall: Firewall;
  listeners: Listeners;
  /** The devices' own IPv6 addresses (`ipv6: own`). */
  addresses: OwnAddresses;
  /** Interface snapshots (netlink). */
  links: Observable<Event>;
  /** Lease events for the given lease files (merged); re-subscribed when the config names other files. */
  leases: (files: readonly string[]) => Observable<Event>;
  /**
   * Neighbour table events of the LAN interface for these MACs (a static address is found there): those of the
   * devices with a mac and no address; subscribed only while there is one, re-subscribed when the set changes.
   */
  neighbours?: (lan: string, macs: readonly string[]) => Observable<Event>;
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
  /** The DNS updater (src/dns/updater.ts), beside the pipeline: its records are shown in the status. */
  dns?: { status(): DnsStatus; readonly changes: Observable<void> };
  /** Problems outside the pipeline (files under runtimeDir that cannot be written), shown in the status. */
  problems?: Problems;
  version: string;
  now?: () => number;
}

export { PARALLEL_STEPS } from "./reconciler.js";

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
  private readonly reconciler: Reconciler;
  private seenLinks = false;
  private seenLeases = false;
  private stopping = false;
  /** The operator's choices as last saved; changed only by changeChoices. */
  private choices: OperatorChoices;
  /** The tail of the operator commands' queue (changeChoices). */
  private choicesTail: Promise<unknown> = Promise.resolve();
  /** The tail of the reloads' queue (reloadConfig). */
  private reloadTail: Promise<unknown> = Promise.resolve();
  private lastProbe: ProbeReport | null = null;
  private probing: Promise<ProbeReport> | undefined;
  /** The phase and reason last logged: each change is logged once. */
  private loggedPhase: string | undefined;
  /** Wall-clock start; re-derived from monotonic time when the wall clock steps (see startedAtNow). */
  private startedAtMs: number;
  private readonly startedMono = performance.now();

  readonly statusChanges: Observable<AgentStatus>;

  constructor(private readonly deps: AgentDeps) {
    this.log = deps.log;
    this.now = deps.now ?? Date.now;
    this.startedAtMs = this.now();
    this.config$ = new BehaviorSubject(deps.config);
    this.choices = deps.persisted ?? {};
    const facts = { ...initialFacts, choices: this.choices };
    this.state = { config: deps.config, facts };
    this.plan = makePlan(this.state.facts, this.state.config);
    this.reconciler = new Reconciler({
      firewall: deps.firewall,
      listeners: deps.listeners,
      addresses: deps.addresses,
      log: deps.log,
      desired: () => this.plan.desired,
      changed: () => this.publish(),
      retry: () => this.kick$.next(),
      now: this.now,
    });
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
      map(({ devices, lan }) => ({
        lan: lan.interface,
        macs: devices.flatMap((d) => (d.mac !== undefined && d.address === undefined ? [d.mac] : [])).sort(),
      })),
      distinctUntilChanged((a, b) => a.lan === b.lan && a.macs.join() === b.macs.join()),
      switchMap((w) =>
        w.macs.length === 0 || deps.neighbours === undefined ? NOTHING : deps.neighbours(w.lan, w.macs),
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
    // it runs, so it never acts on a stale one. Nothing is reconciled before the first interface snapshot: until then
    // the plan wants nothing, and the own addresses adopted from an earlier run (adopt, queued first) would go.
    void this.reconciler.adopt();
    this.subscriptions.add(
      merge(
        this.desired$.pipe(
          filter(() => this.seenLinks),
          distinctUntilChanged(sameDesired),
        ),
        this.kick$,
      )
        .pipe(
          throttleTime(this.state.config.debounceMs, asyncScheduler, { leading: true, trailing: true }),
          runLatest(() => this.reconcileAndReprobe(false)),
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
    // The record of the own addresses we added: the plan serves only on those (one present but unrecorded is another
    // program's). Each change arrives before the address it adds is on the interface, so ours is never mistaken.
    this.subscriptions.add(
      deps.addresses.records.subscribe((addresses) =>
        this.dispatch({ type: "recorded-addresses", addresses }),
      ),
    );
    this.subscriptions.add(deps.listeners.changes.subscribe(() => this.publish()));
    if (deps.firewallChanges !== undefined) this.subscriptions.add(this.watchFirewall(deps.firewallChanges));
    if (deps.problems !== undefined)
      this.subscriptions.add(deps.problems.changes.subscribe(() => this.publish()));
    if (deps.dns !== undefined) this.subscriptions.add(deps.dns.changes.subscribe(() => this.publish()));
    this.publish();
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.subscriptions.unsubscribe();
    this.publish();
    // A reconcile in progress ends once its steps in flight are done; then everything goes.
    await this.reconciler.stop();
    this.log.info("stopped");
  }

  // ---- AgentControl ----

  status(): AgentStatus {
    return this.buildStatus();
  }

  reconcile(): Promise<ReconcileReport | undefined> {
    return this.reconcileAndReprobe(true);
  }

  restartListeners(): Promise<void> {
    return this.reconciler.restartListeners();
  }

  /**
   * Probes each hop; the report becomes the phase's evidence. A probe during which a reconcile changed what is in
   * place (a renumbering moved the listeners) tested something now gone: it is taken again, at most
   * PROBE_ATTEMPTS times in all, so a switch is never reported as a failure until the next tick.
   */
  async probe(device?: string): Promise<ProbeReport> {
    if (device !== undefined) this.deviceNamed(device);
    // One probe at a time: a caller arriving meanwhile (tick, MQTT command, after a reconcile) shares its answer.
    this.probing ??= this.probeNow().finally(() => (this.probing = undefined));
    const report = await this.probing;
    if (device === undefined) return report;
    const results = report.results.filter((r) => r.device === device);
    return { ...report, ok: results.every((r) => r.ok), results };
  }

  /**
   * Probes, and feeds the device hops in as facts. A device that failed every hop for the first time is probed again
   * at once: the second failure in a row leaves its listeners out (plan.ts UNREACHABLE_AFTER), within this call.
   */
  private async probeNow(): Promise<ProbeReport> {
    const report = await this.probeOnce();
    const suspect = Object.values(this.state.facts.unreachable).some(
      (r) => r.failedProbes < UNREACHABLE_AFTER,
    );
    return suspect && !this.stopping ? this.probeOnce() : report;
  }

  private async probeOnce(): Promise<ProbeReport> {
    const { probe } = this.deps;
    if (probe === undefined) throw new Error("probes are not available");
    let report: ProbeReport;
    let status: AgentStatus;
    for (let attempt = 1; ; attempt++) {
      const generation = this.reconciler.generation;
      status = this.buildStatus();
      report = await probe(status);
      if (generation === this.reconciler.generation || attempt >= PROBE_ATTEMPTS) break;
    }
    this.lastProbe = report;
    this.dispatch({ type: "device-hops", hops: deviceHopsOf(report, status) });
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

  setEnabled(enabled: boolean, device?: string): Promise<void> {
    return this.changeChoices((current) => {
      const names =
        device === undefined ? this.state.config.devices.map((d) => d.name) : [this.deviceNamed(device).name];
      return this.withChoices(current, names, (c) => ({ ...c, enabled }));
    });
  }

  setPorts(ports: PortMap[], device?: string): Promise<void> {
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
      const target = this.portsDevice(device);
      const refused = refusedTargets(checked.data, this.state.config, target);
      if (refused !== undefined) throw new Error(refused);
      const taken = this.listenPortsTaken(target.name, checked.data);
      if (taken !== undefined) throw new Error(taken);
      return this.withChoices(current, [target.name], (c) => ({ ...c, ports: checked.data }));
    });
  }

  resetPorts(device?: string): Promise<void> {
    return this.changeChoices((current) =>
      this.withChoices(current, [this.portsDevice(device).name], (c) => ({ ...c, ports: undefined })),
    );
  }

  /** The configuration in force: the file as last (re)loaded, restart-only fields as at start (config/reload.ts). */
  get config(): Config {
    return this.state.config;
  }

  /**
   * Reloads one at a time, each reading the file when its turn comes: two reloads reading at once could finish in the
   * other order (one file takes longer to load: a dns: section reads the key file too), and the older file would stay.
   */
  reloadConfig(): Promise<ReloadReport> {
    const reload = this.reloadTail.then(() => this.reloadNow());
    this.reloadTail = reload.catch(() => undefined);
    return reload;
  }

  private async reloadNow(): Promise<ReloadReport> {
    if (this.deps.loadConfig === undefined) throw new Error("reload is not available");
    const { config, restartNeeded } = reloadedConfig(this.state.config, await this.deps.loadConfig());
    // The run-time mappings stay in force across a reload (until reset-ports): the file must leave their ports free.
    const taken = runtimePortProblems(config, this.choices);
    if (taken.length > 0) {
      const mappings = config.devices.flatMap((d) => {
        const ports = this.choices[d.name]?.ports;
        return ports === undefined ? [] : [`${d.name}: ${ports.map(mappingText).join(", ")}`];
      });
      throw new ReloadRefused([
        ...taken,
        `(with the run-time port mappings from set-ports in force: ${mappings.join("; ")}; reset-ports returns a device to the file's)`,
      ]);
    }
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
      repairsInARow < 2
        ? 0
        : Math.min(RETRY_BACKOFF_MS.initial * 2 ** (repairsInARow - 2), RETRY_BACKOFF_MS.max);
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

  /** The configured device of that name; throws naming the devices there are. */
  private deviceNamed(name: string): DeviceConfig {
    const { devices } = this.state.config;
    const found = devices.find((d) => d.name === name);
    if (found === undefined)
      throw new Error(`no device named ${name} (devices: ${devices.map((d) => d.name).join(", ")})`);
    return found;
  }

  /** The device a port command is for: the named one, or the only one; throws when several need a name. */
  private portsDevice(name: string | undefined): DeviceConfig {
    if (name !== undefined) return this.deviceNamed(name);
    const { devices } = this.state.config;
    const only = devices.length === 1 ? devices[0] : undefined;
    if (only === undefined)
      throw new Error(`name the device (one of: ${devices.map((d) => d.name).join(", ")})`);
    return only;
  }

  /**
   * Why `ports` cannot be `device`'s: a listen port another device serves (its run-time or config mappings), or more
   * listeners in all than MAX_LISTENERS (each port of a range counts).
   */
  private listenPortsTaken(device: string, ports: readonly PortMap[]): string | undefined {
    const others = this.plan.devices.filter((d) => d.name !== device);
    // Listen ports are shared among the devices on the WAN address; a device with its own address has its own, except
    // with HAProxy, which names each proxy by its listen port (as schema.ts checkDevices refuses in the file).
    const shared = (name: string) =>
      this.deviceNamed(name).ipv6 === "shared" || this.state.config.listener.backend === "haproxy";
    const rivals = shared(device) ? others.filter((d) => shared(d.name)) : [];
    const owners = new Map(
      rivals.flatMap((d) => expandPorts(d.ports).map((q) => [q.listen, d.name] as const)),
    );
    const problems = ports.flatMap((p, i) => {
      const taken = expandPorts([p]).find((q) => owners.has(q.listen));
      return taken === undefined
        ? []
        : [`ports.${i}.listen: port ${taken.listen} is ${owners.get(taken.listen)}'s listen port`];
    });
    const otherCount = others.reduce((n, d) => n + portCount(d.ports), 0);
    const tooMany = tooManyListeners(
      ports.map((mapping, i) => ({ path: `ports.${i}`, mapping })),
      otherCount,
    );
    if (tooMany !== undefined) problems.push(`${tooMany} (${otherCount} on other devices)`);
    return problems.length === 0 ? undefined : problems.join("; ");
  }

  private withChoices(
    current: OperatorChoices,
    names: readonly string[],
    change: (c: DeviceChoices) => DeviceChoices,
  ): OperatorChoices {
    const next = { ...current };
    for (const name of names) next[name] = change(choicesOf(current, name));
    return next;
  }

  /** Reconciles in the exclusive section; a failed probe described the setup before a change: it is taken again. */
  private async reconcileAndReprobe(verify: boolean): Promise<ReconcileReport | undefined> {
    const report = await this.reconciler.reconcile(verify);
    if (report !== undefined && report.ok && report.steps > 0) this.reprobeIfFailed();
    return report;
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
      this.choices = next;
      this.dispatch({ type: "choices", choices: next });
    });
    this.choicesTail = run.catch(() => undefined);
    return run;
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

  private reprobeIfFailed(): void {
    if (this.stopping || this.lastProbe?.ok !== false || this.deps.probe === undefined) return;
    this.probe().catch((e: unknown) => this.log.warn({ error: String(e) }, "probe after a reconcile failed"));
  }

  /** A device's phase and status, from its plan and what is in place for it. */
  private deviceStatus(device: DevicePlan): { phase: DevicePhase; status: DeviceStatus } {
    const { actual } = this.reconciler;
    const listeners = this.deps.listeners.statuses().filter((l) => l.device === device.name);
    const inPlace = actual.listeners.filter((l) => l.device === device.name);
    const rules = actual.snat.filter((r) => r.device === device.name);
    const addresses = actual.addresses.filter((a) => a.device === device.name);
    const own = device.ownAddress;
    const mode = this.state.config.devices.find((d) => d.name === device.name)?.ipv6 ?? "shared";
    const wanted =
      own === undefined ? [] : [{ device: device.name, interface: own.interface, address: own.address }];
    // The device's share of what is in place against its share of the plan, compared as the Reconciler does.
    const converging = !sameDesired(
      { snat: rules, listeners: inPlace, addresses },
      { snat: device.snat === null ? [] : [device.snat], listeners: device.listeners, addresses: wanted },
    );
    // The last reconcile's failed steps for this device, while it is still short of its plan.
    const failures = converging ? this.reconciler.failures.filter((f) => f.device === device.name) : [];
    // A listener whose start failed runs nowhere: listed stopped, with its error, rather than left out.
    for (const spec of device.listeners) {
      const failure = failures.find((f) => f.listen === spec.listen);
      if (failure !== undefined && !listeners.some((l) => l.listen === spec.listen))
        listeners.push({
          device: device.name,
          listen: spec.listen,
          target: spec.target,
          state: "stopped",
          pid: null,
          restarts: 0,
          lastError: failure.error,
          connections: 0,
          maxChildren: spec.maxChildren,
          connectionErrors: 0,
        });
    }
    const phase = devicePhaseOf({
      plan: device,
      converging: converging || this.reconciler.reconciling,
      listeners,
      probeFailure: this.lastProbe === null ? undefined : failingHop(this.lastProbe, device.name),
      failures: failures.map((f) => f.error),
    });
    const status: DeviceStatus = {
      name: device.name,
      phase: phase.phase,
      waitingFor: phase.waitingFor ?? null,
      reason: phase.reason ?? null,
      enabled: device.enabled,
      mac: device.device.mac ?? null,
      address: device.device.address ?? null,
      source: device.device.source ?? null,
      lanAddress: device.lanAddress ?? null,
      ports: device.ports,
      portsSource: device.portsSource,
      listeners,
      hostname: deviceHostname(
        this.state.config.devices.find((d) => d.name === device.name)?.hostname,
        this.state.config.dns?.zone,
      ),
      ipv6: {
        mode,
        // A shared device's address is the WAN address, whether or not its listeners run now.
        address: (mode === "shared" ? this.state.facts.wanAddress : device.listenAddress) ?? null,
        state: own?.state ?? null,
      },
    };
    return { phase, status };
  }

  private buildStatus(): AgentStatus {
    const { config, facts } = this.state;
    const { actual, lastReport } = this.reconciler;
    const listeners = this.deps.listeners.statuses();
    const problems = this.deps.problems?.list() ?? [];
    const converging = this.reconciler.reconciling || !sameDesired(actual, this.plan.desired);
    const failed = lastReport !== null && !lastReport.ok && converging ? lastReport.error : null;
    const devices = this.plan.devices.map((d) => this.deviceStatus(d));
    const phase = phaseOf({
      observed: this.seenLinks && this.seenLeases,
      stopping: this.stopping,
      plan: this.plan,
      reconcileError: failed ?? undefined,
      devices: devices.map((d) => d.phase),
    });
    const first = devices[0]?.status;
    return {
      pid: process.pid,
      version: this.deps.version,
      startedAt: this.startedAtNow(),
      phase: phase.phase,
      waitingFor: phase.waitingFor ?? null,
      // A problem is the reason when the phase has none of its own: a dashboard shows reason, not problems.
      reason: phase.reason ?? problems[0] ?? null,
      enabled: this.plan.devices.some((d) => d.enabled),
      devices: devices.map((d) => d.status),
      shorthand: config.shorthand,
      ports: first?.ports ?? [],
      portsSource: first?.portsSource ?? "config",
      wan: { interface: config.wan.interface, address: facts.wanAddress ?? null },
      flaps: facts.flaps,
      lan: { interface: config.lan.interface, address: this.plan.lanAddress ?? null },
      device: { mac: first?.mac ?? null, address: first?.address ?? null, source: first?.source ?? null },
      listeners,
      firewall: {
        backend: this.deps.firewall.backend,
        applied: this.reconciler.firewallApplied,
        matchesPlan: sameSnat(actual.snat, this.plan.desired.snat),
      },
      lastReconcile: lastReport,
      lastProbe: this.lastProbe,
      dns: this.deps.dns?.status() ?? null,
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
