// Supervises one socat per listener (a device's listen port): spawn, wait until bound, restart with backoff, stop by pid.
// Pids are recorded (pid-records.ts) so a restarted agent can find and stop its leftovers.
import { Subject } from "rxjs";
import type { Logger } from "pino";
import { renderSocatArgv } from "../../core/render/socat.js";
import type { ListenerStatus } from "../../core/status.js";
import { compareListeners, listenerKey, type ListenerKey, type ListenerSpec } from "../../core/types.js";
import { stopSpawned, type Runner, type Spawned } from "../exec.js";
import { listenerRecordName, type PidRecords } from "../pid-records.js";
import { countChildren } from "./children.js";
import type { Listeners } from "./listeners.js";
import { listensOn } from "./bound.js";

export interface SocatOptions {
  runner: Runner;
  log: Logger;
  /** Where pids are recorded, so a restarted agent can stop what a killed one left. */
  records: PidRecords;
  socatPath?: string;
  /** How long socat may take to bind its port before start() stops waiting (and assumes it is). */
  readyTimeoutMs?: number;
  backoff?: { initialMs: number; maxMs: number; resetAfterMs: number };
  /** Clock and timers, injectable for tests. */
  now?: () => number;
  /** How often open connections are counted (status shows the count; a full listener degrades the phase). */
  countEveryMs?: number;
}

interface Entry {
  spec: ListenerSpec;
  argv: string[];
  child: Spawned | undefined;
  state: ListenerStatus["state"];
  restarts: number;
  lastError: string | null;
  backoffMs: number;
  startedAt: number;
  timer: NodeJS.Timeout | undefined;
  stopping: boolean;
  /** The pid record's write; a stop waits for it so the record cannot reappear after it was removed. */
  recorded: Promise<void>;
  /** Open connections as last counted (countChildren). */
  connections: number;
  /** Errors of single connections (socat's forked children) since the listener was started. */
  connectionErrors: number;
  /** When a connection error was last logged, and how many were not logged since (ERROR_LOG_EVERY_MS). */
  errorLoggedAt: number | undefined;
  errorsUnlogged: number;
}

const LEVELS: Record<string, "error" | "warn" | "debug"> = { F: "error", E: "error", W: "warn" };

/** How often a starting listener is looked at (listensOn) until its port is bound. */
const READY_POLL_MS = 10;

/** A port's connection errors are logged at most this often: a device that is off fails every probe's connection. */
export const ERROR_LOG_EVERY_MS = 60_000;

/** socat log lines look like "2026/11/26 15:00:00 socat[123] E connect(...): Connection refused". */
function parseSocatLine(line: string): {
  level: "error" | "warn" | "debug";
  message: string;
  pid: number | undefined;
} {
  const m = /socat\[(\d+)\] ([FEWNID]) (.*)$/.exec(line);
  if (m === null) return { level: "debug", message: line, pid: undefined };
  return { level: LEVELS[m[2] ?? ""] ?? "debug", message: m[3] ?? line, pid: Number(m[1]) };
}

export function createSocatListeners(options: SocatOptions): Listeners {
  const { runner, log, records } = options;
  const socat = options.socatPath ?? "socat";
  const readyTimeoutMs = options.readyTimeoutMs ?? 3000;
  const backoff = options.backoff ?? { initialMs: 500, maxMs: 30000, resetAfterMs: 60000 };
  // Monotonic: only intervals are measured with it, and a step of the wall clock must not distort them.
  const now = options.now ?? (() => performance.now());
  const entries = new Map<ListenerKey, Entry>();
  const changes = new Subject<void>();
  const countEveryMs = options.countEveryMs ?? 5000;
  let counter: NodeJS.Timeout | undefined;
  let counting = false;

  /** Counts every listener's connections; emits a change when a count moved. */
  const count = async (): Promise<void> => {
    if (counting) return;
    counting = true;
    try {
      const live = [...entries.values()].flatMap((e) => (e.child?.pid === undefined ? [] : [e.child.pid]));
      const counts = await countChildren(live);
      let changed = false;
      for (const entry of entries.values()) {
        const pid = entry.child?.pid;
        const n = pid === undefined ? 0 : (counts.get(pid) ?? 0);
        if (n !== entry.connections) {
          entry.connections = n;
          changed = true;
        }
      }
      if (changed) changes.next();
    } catch (e) {
      log.debug({ error: String(e) }, "cannot count the listeners' connections");
    } finally {
      counting = false;
    }
  };
  /** Counting runs while there are listeners, and stops with the last one. */
  const keepCounting = (): void => {
    if (entries.size > 0 && counter === undefined) {
      counter = setInterval(() => void count(), countEveryMs);
      counter.unref();
    } else if (entries.size === 0 && counter !== undefined) {
      clearInterval(counter);
      counter = undefined;
    }
  };

  /**
   * A line of one connection's socat child. Errors are counted (status: connectionErrors) and logged at most once
   * per ERROR_LOG_EVERY_MS per port, with how many were not logged; everything else is debug.
   */
  const connectionLine = (
    entry: Entry,
    level: "error" | "warn" | "debug",
    message: string,
    pid: number,
  ): void => {
    const { device, listen } = entry.spec;
    if (level !== "error") {
      log.debug({ device, listen, pid, socat: message }, "socat");
      return;
    }
    // No change event: a failing port would otherwise republish the state per connection. The next publish (at
    // the latest the health tick) carries the count.
    entry.connectionErrors += 1;
    const t = now();
    if (entry.errorLoggedAt !== undefined && t - entry.errorLoggedAt < ERROR_LOG_EVERY_MS) {
      entry.errorsUnlogged += 1;
      log.debug({ device, listen, pid, socat: message }, "socat");
      return;
    }
    log.warn(
      { device, listen, error: message, total: entry.connectionErrors, notLogged: entry.errorsUnlogged },
      "connection failed (at most one line a minute per port)",
    );
    entry.errorLoggedAt = t;
    entry.errorsUnlogged = 0;
  };

  const launch = (entry: Entry): Promise<void> => {
    const { device, listen } = entry.spec;
    let lastError: string | null = null;
    const child = runner.spawn(entry.argv, {
      // socat forks a child per connection; stopping the listener stops its connections too.
      group: true,
      onStderrLine: (line) => {
        const { level, message, pid } = parseSocatLine(line);
        // Our own stop: whatever socat says then (an error of a connection cut short) is expected.
        if (entry.stopping) {
          log.debug({ device, listen, pid, socat: message }, "socat");
          return;
        }
        // A forked child serves one connection: its errors are the client's or the device's, not the listener's.
        if (pid !== undefined && pid !== child.pid) {
          connectionLine(entry, level, message, pid);
          return;
        }
        if (level === "error") lastError = message;
        log[level]({ device, listen, pid, socat: message }, "socat");
      },
    });
    // Recorded at once: an agent killed before socat is ready must still leave a trace to clean up.
    entry.recorded = records
      .record(listenerRecordName(entry.spec), child.pid, entry.argv, { group: true })
      .catch((e: unknown) =>
        log.warn({ device, listen, error: String(e) }, "cannot record the listener's pid"),
      );
    entry.child = child;
    entry.startedAt = now();
    entry.state = "starting";
    changes.next();

    const exited = child.exited.then((exit) => {
      if (entry.child !== child) return exit;
      entry.child = undefined;
      entry.lastError =
        lastError ?? exit.error ?? `exited (${exit.signal ?? `code ${exit.exitCode ?? "?"}`})`;
      if (entry.stopping || entries.get(listenerKey(entry.spec)) !== entry) return exit;
      // Unexpected exit: come back after a delay that grows while it keeps failing.
      if (now() - entry.startedAt > backoff.resetAfterMs) entry.backoffMs = backoff.initialMs;
      entry.state = "restarting";
      entry.restarts += 1;
      log.warn(
        { device, listen, error: entry.lastError, retryInMs: entry.backoffMs, restarts: entry.restarts },
        "listener exited; restarting",
      );
      changes.next();
      entry.timer = setTimeout(() => {
        entry.timer = undefined;
        if (!entry.stopping) void launch(entry).catch(() => undefined);
      }, entry.backoffMs);
      entry.backoffMs = Math.min(entry.backoffMs * 2, backoff.maxMs);
      return exit;
    });

    // socat logs nothing when all is well (no -d): the port bound by this very process is the sign it is ready.
    let waiting = true;
    const bound = async (pid: number): Promise<"ready"> => {
      while (waiting && !(await listensOn(pid, listen)))
        await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
      return "ready";
    };
    let timeout: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">(
      (resolve) => (timeout = setTimeout(() => resolve("timeout"), readyTimeoutMs)),
    );
    return Promise.race([
      // A process that never started (no pid) binds nothing: its exit decides.
      ...(child.pid === undefined ? [] : [bound(child.pid)]),
      exited.then(() => "exited" as const),
      timedOut,
    ]).then(async (outcome) => {
      waiting = false;
      clearTimeout(timeout);
      // Ready means recorded too: an agent killed right after start() must leave a record to clean up by.
      await entry.recorded;
      if (outcome === "exited")
        throw new Error(`socat for :${listen} exited: ${entry.lastError ?? "unknown"}`);
      if (outcome === "timeout")
        log.warn({ device, listen }, "socat did not bind its port in time; assuming it will");
      if (entry.child === child) {
        entry.state = "running";
        entry.lastError = null;
        changes.next();
      }
    });
  };

  const stop = async (key: ListenerKey): Promise<void> => {
    const entry = entries.get(key);
    if (entry === undefined) return;
    entry.stopping = true;
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entries.delete(key);
    keepCounting();
    if (entry.child !== undefined) await stopSpawned(entry.child, 2000);
    await entry.recorded;
    await records.forget(listenerRecordName(entry.spec));
    changes.next();
  };

  return {
    changes: changes,
    // child_process.spawn returns once socat is exec'd, so the event loop starts them one after another anyway; a
    // bound would only make the later ones wait for earlier ones to bind (10 ms polls). 64 ports renumbered, side by
    // side in one run: 886-1788 ms unbounded against 1197-3041 ms at 8 (a loaded 2-core machine, profile script).
    concurrency: Number.POSITIVE_INFINITY,

    async start(spec) {
      await stop(listenerKey(spec));
      const entry: Entry = {
        spec,
        argv: renderSocatArgv(spec, socat),
        child: undefined,
        state: "starting",
        restarts: 0,
        lastError: null,
        backoffMs: backoff.initialMs,
        startedAt: now(),
        timer: undefined,
        stopping: false,
        recorded: Promise.resolve(),
        connections: 0,
        connectionErrors: 0,
        errorLoggedAt: undefined,
        errorsUnlogged: 0,
      };
      entries.set(listenerKey(spec), entry);
      keepCounting();
      try {
        await launch(entry);
      } catch (e) {
        // A listener that never came up is not ours to keep restarting: the reconciler retries it.
        await stop(listenerKey(spec));
        throw e;
      }
    },

    stop,

    async stopAll() {
      await Promise.all([...entries.keys()].map(stop));
    },

    statuses() {
      return [...entries.values()]
        .map((e) => ({
          device: e.spec.device,
          listen: e.spec.listen,
          target: e.spec.target,
          state: e.state,
          pid: e.child?.pid ?? null,
          restarts: e.restarts,
          lastError: e.lastError,
          connections: e.connections,
          maxChildren: e.spec.maxChildren,
          connectionErrors: e.connectionErrors,
        }))
        .sort(compareListeners);
    },
  };
}
