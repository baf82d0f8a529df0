// Interface and address events. `ip monitor` lines are only triggers: each one is followed by an
// `ip -json addr` snapshot, so a lost, duplicated or misread line does no harm.
import { EMPTY, Observable, defer, filter, merge, of } from "rxjs";
import type { Logger } from "pino";
import type { Event } from "../core/types.js";
import { runChecked, type Runner } from "../effects/exec.js";
import type { PidRecords } from "../effects/pid-records.js";
import { retryWithBackoff } from "../util/retry-backoff.js";
import { runLatest } from "../util/run-latest.js";
import { parseIpAddrJson } from "./ip-addr.js";

/** Lines from a long-running `ip monitor`; errors when it exits so the caller can restart it. */
function monitorLines(runner: Runner, records: PidRecords | undefined, log: Logger): Observable<string> {
  return new Observable<string>((subscriber) => {
    const argv = ["ip", "-o", "monitor", "link", "address"];
    const child = runner.spawn(argv, { onStdoutLine: (line) => subscriber.next(line) });
    // Recorded so that, if the agent is killed, its successor stops this orphan. A record that cannot be written
    // (a full runtimeDir) costs only that: the monitor runs on.
    records?.record("ip-monitor", child.pid, argv).catch((e: unknown) => {
      log.warn({ error: String(e) }, "cannot record the ip monitor's pid");
    });
    void child.exited.then((exit) => {
      records?.forget("ip-monitor").catch((e: unknown) => {
        log.warn({ error: String(e) }, "cannot remove the ip monitor's pid record");
      });
      subscriber.error(new Error(`ip monitor exited (${exit.signal ?? `code ${exit.exitCode ?? "?"}`})`));
    });
    return () => child.kill("SIGTERM");
  });
}

export function netlinkEvents(
  runner: Runner,
  log: Logger,
  records?: PidRecords,
  hints: Observable<unknown> = EMPTY,
): Observable<Event> {
  const snapshot = async (): Promise<Event | undefined> => {
    try {
      const result = await runChecked(runner, ["ip", "-json", "addr", "show"]);
      return { type: "links", links: parseIpAddrJson(result.stdout) };
    } catch (e) {
      log.error({ error: String(e) }, "cannot read interfaces");
      return undefined;
    }
  };
  // Every (re)start of the monitor begins with a snapshot, so nothing that happened in between is missed.
  const triggers = defer(() => merge(of("start"), monitorLines(runner, records, log))).pipe(
    retryWithBackoff({
      initialMs: 500,
      maxMs: 30000,
      resetAfterMs: 60000,
      onRetry: (error, delayMs) =>
        log.warn({ error: String(error), delayMs }, "netlink monitor stopped; restarting"),
    }),
  );
  // Hints from hotplug hooks are triggers too; they sit outside the retry so a restart does not touch them.
  return merge(triggers, hints).pipe(
    runLatest(snapshot),
    filter((e): e is Event => e !== undefined),
  );
}
