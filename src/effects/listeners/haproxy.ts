// Supervises one HAProxy (master-worker) serving every listener. start/stop change the wanted set; changes that
// arrive together are applied by ONE reload (configuration checked with `haproxy -c` first), and the callers learn
// once the new worker serves them (its runtime API lists their proxies) or why not. Connections the old worker
// carries stay with it until they end. The master's pid is recorded (pid-records.ts) so a restarted agent stops a
// leftover one; a crash is restarted with backoff.
import { join } from "node:path";
import { Subject } from "rxjs";
import type { Logger } from "pino";
import { haproxySections, renderHaproxyConfig } from "../../core/render/haproxy.js";
import type { ListenerStatus } from "../../core/status.js";
import { compareListeners, listenerKey, type ListenerKey, type ListenerSpec } from "../../core/types.js";
import { writeFileAtomic } from "../atomic-file.js";
import { stopSpawned, type Runner, type Spawned } from "../exec.js";
import type { PidRecords } from "../pid-records.js";
import { parseInfoPid, parseShowStat, runtimeCommand, type StatRow } from "./haproxy-api.js";
import type { Listeners } from "./listeners.js";

export interface HaproxyOptions {
  runner: Runner;
  log: Logger;
  records: PidRecords;
  /** HAProxy's files go to runtimeDir/haproxy: haproxy.cfg, the master CLI and the stats socket. */
  runtimeDir: string;
  haproxyPath?: string;
  /** How long a start or reload may take until the worker serves the new configuration. */
  readyTimeoutMs?: number;
  backoff?: { initialMs: number; maxMs: number; resetAfterMs: number };
  /** How often the connection counts are read from the runtime API. */
  countEveryMs?: number;
}

/** The pid record of the master. */
export const HAPROXY_RECORD = "haproxy";

interface Meta {
  spec: ListenerSpec;
  state: ListenerStatus["state"];
  restarts: number;
  lastError: string | null;
  connections: number;
  connectionErrors: number;
  /** A start() waiting for a configuration that serves this spec. */
  settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
}

/** Why an apply failed, and which proxies HAProxy named in its alerts (empty: it named none). */
class ApplyError extends Error {
  constructor(
    message: string,
    readonly proxies: Set<string>,
  ) {
    super(message);
  }
}

/** The master's lines that end a load: after them the worker serves the new configuration, or the old one still. */
const LOADED = /Loading success\./;
const LOAD_FAILED = /Loading failure!/;
const ALERT = /\[ALERT\]/;

/**
 * The proxies an alert is about: those named ("frontend port-80") and those whose section holds a line the alert
 * cites ("[/run/sixgate/haproxy/haproxy.cfg:12]"), looked up in the configuration text that was applied.
 */
export function proxiesInAlerts(alerts: readonly string[], config: string): Set<string> {
  const lines = config.split("\n");
  const sectionAt = (n: number): string | undefined => {
    for (let i = Math.min(n, lines.length) - 1; i >= 0; i--) {
      const m = /^listen (\S+)$/.exec(lines[i] ?? "");
      if (m !== null) return m[1];
      if (/^\S/.test(lines[i] ?? "")) return undefined;
    }
    return undefined;
  };
  const names = new Set<string>();
  const known = new Set(lines.flatMap((l) => /^listen (\S+)$/.exec(l)?.slice(1) ?? []));
  for (const alert of alerts) {
    for (const m of alert.matchAll(/\[\/[^\]:]*:(\d+)\]/g)) {
      const name = sectionAt(Number(m[1]));
      if (name !== undefined) names.add(name);
    }
    for (const m of alert.matchAll(/(?:frontend|proxy|backend) '?([\w.-]+)/gi))
      if (m[1] !== undefined && known.has(m[1])) names.add(m[1]);
  }
  return names;
}

/** The section (pxname) of each listener, by key, as the renderer groups them. */
function sectionNames(specs: Iterable<ListenerSpec>): Map<ListenerKey, string> {
  return new Map(
    haproxySections([...specs]).flatMap((s) => s.specs.map((spec) => [listenerKey(spec), s.name])),
  );
}

/**
 * Each listener's open connections and failed device connections from `show stat`: for a section of one port, its
 * frontend's scur and its backend's econ; for a range, its port's own socket row (option socket-stats, found by
 * its `addr`) and the range's econ, shared by its ports (one server serves them all). A listener without a row: 0.
 */
export function listenerCounts(
  specs: readonly ListenerSpec[],
  rows: readonly StatRow[],
): Map<ListenerKey, { connections: number; connectionErrors: number }> {
  const counts = new Map<ListenerKey, { connections: number; connectionErrors: number }>();
  for (const { name, specs: ofSection } of haproxySections(specs)) {
    const sectionRows = rows.filter((r) => r.pxname === name);
    const connectionErrors = sectionRows.find((r) => r.svname === "BACKEND")?.econ ?? 0;
    for (const spec of ofSection) {
      const row =
        ofSection.length === 1
          ? sectionRows.find((r) => r.svname === "FRONTEND")
          : sectionRows.find((r) => r.addr.endsWith(`]:${spec.listen}`));
      counts.set(listenerKey(spec), { connections: row?.scur ?? 0, connectionErrors });
    }
  }
  return counts;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Where the backend keeps HAProxy's files under runtimeDir: its configuration and the runtime API's socket. */
export function haproxyFiles(runtimeDir: string): { dir: string; configFile: string; statsSocket: string } {
  const dir = join(runtimeDir, "haproxy");
  return { dir, configFile: join(dir, "haproxy.cfg"), statsSocket: join(dir, "stats.sock") };
}

export function createHaproxyListeners(options: HaproxyOptions): Listeners {
  const { runner, log, records } = options;
  const haproxy = options.haproxyPath ?? "haproxy";
  const { dir, configFile, statsSocket } = haproxyFiles(options.runtimeDir);
  const argv = [haproxy, "-W", "-S", `${join(dir, "master.sock")},mode,600`, "-f", configFile];
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  const backoff = options.backoff ?? { initialMs: 500, maxMs: 30000, resetAfterMs: 60000 };
  const countEveryMs = options.countEveryMs ?? 5000;
  const changes = new Subject<void>();

  /** What the callers want, by key; what the worker serves, and the configuration text it was given. */
  const wanted = new Map<ListenerKey, Meta>();
  let applied = new Map<ListenerKey, ListenerSpec>();
  let appliedText: string | undefined;
  /** stop() callers waiting until their key is no longer served. */
  const stopWaiters: { key: ListenerKey; resolve: () => void }[] = [];

  let master: Spawned | undefined;
  let workerPid: number | undefined;
  /** Lines of the master since the last load began, and the waiter for its end. */
  let loading: { alerts: string[]; done: (ok: boolean) => void } | undefined;
  let stopping = false;
  let backoffMs = backoff.initialMs;
  let startedAt = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let counter: NodeJS.Timeout | undefined;

  let dirty = false;
  let syncing: Promise<void> | undefined;

  const onLine = (line: string): void => {
    if (loading !== undefined && ALERT.test(line)) loading.alerts.push(line);
    if (loading !== undefined && LOADED.test(line)) loading.done(true);
    else if (loading !== undefined && LOAD_FAILED.test(line)) loading.done(false);
    // Its warnings and notices are what every reload prints (proxies paused, stopped, a former worker exited); an
    // alert is a failure, which the apply or restart that meets it also reports.
    log[ALERT.test(line) && !stopping ? "warn" : "debug"]({ haproxy: line }, "haproxy");
  };

  /** Waits for the end of a load the caller starts with begin(); rejects with HAProxy's alerts. */
  const load = async (begin: () => Spawned | undefined, text: string): Promise<void> => {
    let done: (ok: boolean) => void = () => undefined;
    const ended = new Promise<boolean>((resolve) => (done = resolve));
    const current = { alerts: [] as string[], done };
    loading = current;
    let timer: NodeJS.Timeout | undefined;
    try {
      const child = begin();
      const exited = child === undefined ? new Promise<never>(() => undefined) : child.exited;
      const outcome = await Promise.race([
        ended.then((ok) => (ok ? "loaded" : "failed")),
        exited.then((e) => `exited (${e.error ?? e.signal ?? `code ${e.exitCode ?? "?"}`})`),
        new Promise<string>((resolve) => (timer = setTimeout(() => resolve("timeout"), readyTimeoutMs))),
      ]);
      if (outcome === "loaded") return;
      const reason = current.alerts.at(-2) ?? current.alerts.at(-1) ?? outcome;
      throw new ApplyError(
        `haproxy did not load its configuration: ${reason.replace(/^\[ALERT\]\s+\(\d+\) : /, "")}`,
        proxiesInAlerts(current.alerts, text),
      );
    } finally {
      clearTimeout(timer);
      if (loading === current) loading = undefined;
    }
  };

  /** Resolves once the worker's runtime API is a new worker's (not `previous`) and lists every proxy of `specs`. */
  const verify = async (specs: Iterable<ListenerSpec>, previous: number | undefined): Promise<void> => {
    const names = haproxySections([...specs]).map((s) => s.name);
    const deadline = performance.now() + readyTimeoutMs;
    let last = "no answer";
    while (performance.now() < deadline) {
      try {
        const pid = parseInfoPid(await runtimeCommand(statsSocket, "show info"));
        const rows = parseShowStat(await runtimeCommand(statsSocket, "show stat"));
        const missing = names.filter((n) => !rows.some((r) => r.pxname === n && r.svname === "FRONTEND"));
        if (pid !== undefined && pid !== previous && missing.length === 0) {
          workerPid = pid;
          return;
        }
        last = pid === previous ? "the old worker still answers" : `${missing.join(", ")} not listed`;
      } catch (e) {
        last = String(e);
      }
      await sleep(50);
    }
    throw new ApplyError(`haproxy's new worker does not serve the configuration: ${last}`, new Set());
  };

  const spawn = (): Spawned => {
    const child = runner.spawn(argv, { onStderrLine: onLine });
    master = child;
    startedAt = performance.now();
    // Recorded at once: an agent killed before HAProxy is ready must still leave a trace to clean up.
    const recorded = records
      .record(HAPROXY_RECORD, child.pid, argv)
      .catch((e: unknown) => log.warn({ error: String(e) }, "cannot record haproxy's pid"));
    void child.exited.then(async (exit) => {
      await recorded;
      if (master !== child) return;
      master = undefined;
      workerPid = undefined;
      if (stopping || wanted.size === 0) return;
      crashed(`exited (${exit.error ?? exit.signal ?? `code ${exit.exitCode ?? "?"}`})`);
    });
    return child;
  };

  /**
   * The master ended on its own (down: every listener restarts with it), or a change could not be applied: tried
   * again after a delay that grows while it keeps failing.
   */
  const crashed = (reason: string, down = true): void => {
    if (performance.now() - startedAt > backoff.resetAfterMs) backoffMs = backoff.initialMs;
    for (const meta of down ? wanted.values() : []) {
      meta.state = "restarting";
      meta.restarts += 1;
      meta.lastError = reason;
    }
    log.warn(
      { error: reason, retryInMs: backoffMs },
      down ? "haproxy exited; restarting" : "retrying haproxy",
    );
    changes.next();
    if (restartTimer !== undefined) clearTimeout(restartTimer);
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      requestSync();
    }, backoffMs);
    backoffMs = Math.min(backoffMs * 2, backoff.maxMs);
  };

  const terminate = async (): Promise<void> => {
    const child = master;
    if (child === undefined) return;
    master = undefined;
    workerPid = undefined;
    // SIGTERM to the master stops its workers too (old ones included: their connections end).
    await stopSpawned(child, 3000);
    await records.forget(HAPROXY_RECORD);
  };

  /** Makes HAProxy serve `text`: started, or reloaded by its master; checked first, verified after. */
  const apply = async (text: string, specs: Iterable<ListenerSpec>): Promise<void> => {
    await writeFileAtomic(configFile, text, { parentMode: 0o700, mode: 0o600 });
    // Not -q: it silences the alerts too, and a refusal would name nothing but its exit code.
    const check = await runner.run([haproxy, "-c", "-f", configFile]);
    if (check.exitCode !== 0) {
      const alerts = `${check.stderr}\n${check.stdout}`.split("\n").filter((l) => l.trim() !== "");
      throw new ApplyError(
        `haproxy -c refused the configuration: ${alerts.find((l) => ALERT.test(l)) ?? alerts[0] ?? check.exitCode}`,
        proxiesInAlerts(alerts, text),
      );
    }
    const previous = workerPid;
    const running = master;
    if (running === undefined) {
      // A master that did not load is not kept: its exit is this apply's failure, not a crash to restart.
      await load(spawn, text).catch(async (e: unknown) => {
        await terminate();
        throw e;
      });
    }
    // SIGUSR2 to the master: it re-executes itself with the file, and the old worker keeps its connections.
    else await load(() => (running.kill("SIGUSR2"), undefined), text);
    await verify(specs, previous);
  };

  /** Settles whoever waits on what is now served (applied); stop() callers whose key is gone. */
  const settleServed = (): void => {
    for (const [key, meta] of wanted) {
      if (applied.get(key) !== meta.spec) continue;
      meta.state = "running";
      meta.lastError = null;
      meta.settle?.resolve();
      meta.settle = undefined;
    }
    for (let i = stopWaiters.length - 1; i >= 0; i--) {
      const w = stopWaiters[i];
      if (w !== undefined && (!applied.has(w.key) || master === undefined)) {
        stopWaiters.splice(i, 1);
        w.resolve();
      }
    }
    changes.next();
  };

  /** One pass: the wanted set applied, or the changes HAProxy blamed given up (their start() rejects). */
  const syncOnce = async (): Promise<void> => {
    const target = new Map([...wanted].map(([key, meta]) => [key, meta.spec]));
    const text =
      target.size === 0 ? undefined : renderHaproxyConfig({ specs: [...target.values()], statsSocket });
    if (text === appliedText && (text === undefined || master !== undefined)) {
      applied = target;
      settleServed();
      return;
    }
    try {
      if (text === undefined) await terminate();
      else await apply(text, target.values());
      applied = target;
      appliedText = text;
      log.info({ listeners: [...target.keys()] }, text === undefined ? "haproxy stopped" : "haproxy serves");
      settleServed();
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      const named = e instanceof ApplyError ? e.proxies : new Set<string>();
      // The changed specs are to blame: those HAProxy named, else all of them.
      const changed = [...target].filter(([key, spec]) => applied.get(key) !== spec);
      const section = sectionNames(target.values());
      const blamed = changed.filter(([key]) => named.has(section.get(key) ?? ""));
      for (const [key, spec] of blamed.length > 0 ? blamed : changed) {
        const meta = wanted.get(key);
        if (meta?.spec !== spec) continue;
        // A listener that never came up is not ours to keep retrying: the reconciler retries it.
        wanted.delete(key);
        meta.settle?.reject(new Error(`listener :${spec.listen}: ${error.message}`));
      }
      log.warn({ error: error.message }, "haproxy configuration not applied");
      // What HAProxy reads on a restart is what it serves.
      if (appliedText !== undefined)
        await writeFileAtomic(configFile, appliedText, { mode: 0o600 }).catch((w: unknown) =>
          log.warn({ error: String(w) }, "cannot restore haproxy.cfg"),
        );
      if (changed.length > 0) dirty = true;
      else if (!stopping) {
        // Nothing to give up (a restart, or only removals, failed): tried again later, as after a crash, and no
        // stop() waits for it meanwhile.
        crashed(error.message, master === undefined);
        for (const w of stopWaiters.splice(0)) w.resolve();
      }
      changes.next();
    }
  };

  const syncLoop = async (): Promise<void> => {
    // Let the calls of the same moment (a reconcile's parallel steps) join this reload.
    await new Promise((resolve) => setImmediate(resolve));
    while (dirty) {
      dirty = false;
      await syncOnce();
    }
    syncing = undefined;
  };

  function requestSync(): void {
    dirty = true;
    syncing ??= syncLoop();
  }

  /** Reads each listener's open connections and failed device connections (listenerCounts). */
  const count = async (): Promise<void> => {
    if (master === undefined) return;
    let rows: StatRow[];
    try {
      rows = parseShowStat(await runtimeCommand(statsSocket, "show stat"));
    } catch (e) {
      log.debug({ error: String(e) }, "cannot read haproxy's stats");
      return;
    }
    let changed = false;
    for (const [key, counts] of listenerCounts(
      [...wanted.values()].map((m) => m.spec),
      rows,
    )) {
      const meta = wanted.get(key);
      if (meta === undefined) continue;
      if (counts.connections !== meta.connections || counts.connectionErrors !== meta.connectionErrors)
        changed = true;
      Object.assign(meta, counts);
    }
    if (changed) changes.next();
  };
  const keepCounting = (): void => {
    if (wanted.size > 0 && counter === undefined) {
      counter = setInterval(() => void count(), countEveryMs);
      counter.unref();
    } else if (wanted.size === 0 && counter !== undefined) {
      clearInterval(counter);
      counter = undefined;
    }
  };

  const stop = async (key: ListenerKey): Promise<void> => {
    const meta = wanted.get(key);
    if (meta === undefined && !applied.has(key)) return;
    wanted.delete(key);
    meta?.settle?.reject(new Error(`listener :${key} stopped before it served`));
    keepCounting();
    const done = new Promise<void>((resolve) => stopWaiters.push({ key, resolve }));
    requestSync();
    await done;
  };

  return {
    changes,
    // Every call of one reconcile's phase joins one reload: 64 changed listeners are one reload, not eight.
    concurrency: Number.POSITIVE_INFINITY,

    start(spec) {
      const key = listenerKey(spec);
      const before = wanted.get(key);
      before?.settle?.reject(new Error(`listener :${spec.listen} replaced before it served`));
      stopping = false;
      const meta: Meta = {
        spec,
        state: "starting",
        restarts: 0,
        lastError: null,
        connections: 0,
        connectionErrors: 0,
        settle: undefined,
      };
      const served = new Promise<void>((resolve, reject) => (meta.settle = { resolve, reject }));
      wanted.set(key, meta);
      keepCounting();
      changes.next();
      requestSync();
      return served;
    },

    stop,

    async stopAll() {
      stopping = true;
      if (restartTimer !== undefined) clearTimeout(restartTimer);
      restartTimer = undefined;
      await Promise.all([...new Set([...wanted.keys(), ...applied.keys()])].map(stop));
      await syncing;
    },

    statuses() {
      return [...wanted.values()]
        .map((m) => ({
          device: m.spec.device,
          listen: m.spec.listen,
          target: m.spec.target,
          state: m.state,
          pid: master?.pid ?? null,
          restarts: m.restarts,
          lastError: m.lastError,
          connections: m.connections,
          maxChildren: m.spec.maxChildren,
          connectionErrors: m.connectionErrors,
        }))
        .sort(compareListeners);
    },
  };
}
