// Interface and address events. `ip monitor` lines are only triggers: each one is followed by an
// `ip -json addr` snapshot, so a lost, duplicated or misread line does no harm.
import { EMPTY, Observable, defer, filter, merge, of } from "rxjs";
import type { Logger } from "pino";
import { z } from "zod";
import type { Event, LinkInfo } from "../core/types.js";
import { runChecked, type Runner } from "../effects/exec.js";
import type { PidRecords } from "../effects/pid-records.js";
import { retryWithBackoff } from "../util/retry-backoff.js";
import { runLatest } from "../util/run-latest.js";

const addrSchema = z.looseObject({
  family: z.string(),
  local: z.string().optional(),
  prefixlen: z.number(),
  scope: z.string().optional(),
  tentative: z.boolean().optional(),
  deprecated: z.boolean().optional(),
  temporary: z.boolean().optional(),
  dadfailed: z.boolean().optional(),
  preferred_life_time: z.number().optional(),
});

const linkSchema = z.looseObject({
  ifname: z.string(),
  flags: z.array(z.string()).default([]),
  addr_info: z.array(addrSchema).default([]),
});

export function parseIpAddrJson(text: string): LinkInfo[] {
  const links = z.array(linkSchema).parse(JSON.parse(text));
  return links.map((l) => ({
    name: l.ifname,
    up: l.flags.includes("UP") && l.flags.includes("LOWER_UP"),
    addresses: l.addr_info.flatMap((a) =>
      (a.family === "inet" || a.family === "inet6") && a.local !== undefined
        ? [
            {
              family: a.family,
              address: a.local,
              prefixlen: a.prefixlen,
              scope: a.scope ?? "global",
              tentative: a.tentative === true,
              deprecated: a.deprecated === true || a.preferred_life_time === 0,
              temporary: a.temporary === true,
              dadfailed: a.dadfailed === true,
            },
          ]
        : [],
    ),
  }));
}

/** Lines from a long-running `ip monitor`; errors when it exits so the caller can restart it. */
function monitorLines(runner: Runner, records: PidRecords | undefined): Observable<string> {
  return new Observable<string>((subscriber) => {
    const argv = ["ip", "-o", "monitor", "link", "address"];
    const child = runner.spawn(argv, { onStdoutLine: (line) => subscriber.next(line) });
    // Recorded so that, if the agent is killed, its successor stops this orphan.
    void records?.record("ip-monitor", child.pid, argv);
    void child.exited.then((exit) => {
      void records?.forget("ip-monitor");
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
  const triggers = defer(() => merge(of("start"), monitorLines(runner, records))).pipe(
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
