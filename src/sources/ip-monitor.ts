// A long-running `ip monitor` (or `nft monitor`) child whose lines are triggers for a fresh look (netlink.ts,
// neighbours.ts, nft-monitor.ts): a lost, duplicated or misread line does no harm. Restarted with backoff when it
// exits; every (re)start is itself a trigger, so nothing that happened while it was down is missed.
import { Observable, defer, merge, of } from "rxjs";
import type { Logger } from "pino";
import type { Runner } from "../effects/exec.js";
import type { PidRecords } from "../effects/pid-records.js";
import { explainIpFailure } from "../effects/preflight.js";
import type { Problems } from "../util/problems.js";
import { retryWithBackoff } from "../util/retry-backoff.js";

/** How long a (re)started monitor must run before an earlier exit of it stops being a problem. */
const MONITOR_SETTLED_MS = 5000;

export interface MonitorOptions {
  runner: Runner;
  /** The monitor's command line: `ip ... monitor ...`, `nft -j monitor ruleset`. */
  argv: readonly string[];
  /** The pid record's name (pid-records.ts), so a killed agent's successor stops this child. */
  recordName: string;
  records: PidRecords | undefined;
  log: Logger;
  /**
   * Where an exit is reported (under recordName, explained as the preflight would when ip is no longer iproute2's),
   * so that the status names it, until a monitor has run MONITOR_SETTLED_MS again.
   */
  problems?: Problems;
}

/** Lines from one run of the monitor; errors when it exits, so retryWithBackoff restarts it. */
function monitorLines(options: MonitorOptions): Observable<string> {
  const { runner, argv, recordName, records, log, problems } = options;
  return new Observable<string>((subscriber) => {
    let lastError: string | undefined;
    let stopped = false;
    const child = runner.spawn(argv, {
      onStdoutLine: (line) => subscriber.next(line),
      onStderrLine: (line) => (lastError = line.trim()),
    });
    const settled = setTimeout(() => problems?.clear(recordName), MONITOR_SETTLED_MS);
    // A record that cannot be written (a full runtimeDir) costs only that: the monitor runs on.
    records?.record(recordName, child.pid, argv).catch((e: unknown) => {
      log.warn({ error: String(e), record: recordName }, "cannot record a monitor's pid");
    });
    void child.exited.then((exit) => {
      clearTimeout(settled);
      records?.forget(recordName).catch((e: unknown) => {
        log.warn({ error: String(e), record: recordName }, "cannot remove a monitor's pid record");
      });
      const how = exit.signal ?? exit.error ?? `code ${exit.exitCode ?? "?"}`;
      const what = `${argv.slice(0, 3).join(" ")} exited (${how})`;
      if (!stopped && problems !== undefined)
        void explainIpFailure(runner, `${what}; restarting it`, lastError).then((text) =>
          problems.set(recordName, text),
        );
      subscriber.error(new Error(what));
    });
    return () => {
      stopped = true;
      clearTimeout(settled);
      child.kill("SIGTERM");
    };
  });
}

/**
 * "start" once at each (re)start of the monitor, then each line it prints. The monitor is restarted with backoff
 * (0.5 s doubling to 30 s, reset after a minute of good running) and each restart logged as a warning.
 */
export function monitorTriggers(options: MonitorOptions): Observable<string> {
  return defer(() => merge(of("start"), monitorLines(options))).pipe(
    retryWithBackoff({
      initialMs: 500,
      maxMs: 30000,
      resetAfterMs: 60000,
      onRetry: (error, delayMs) =>
        options.log.warn({ error: String(error), delayMs }, `${options.recordName} stopped; restarting`),
    }),
  );
}
