// Interface and address events. `ip monitor` lines are only triggers: each one is followed by an
// `ip -json addr` snapshot, so a lost, duplicated or misread line does no harm.
import { EMPTY, Observable, filter, merge } from "rxjs";
import type { Logger } from "pino";
import type { Event } from "../core/types.js";
import { runChecked, type Runner } from "../effects/exec.js";
import type { PidRecords } from "../effects/pid-records.js";
import { explainIpFailure } from "../effects/preflight.js";
import type { Problems } from "../util/problems.js";
import { runLatest } from "../util/run-latest.js";
import { parseIpAddrJson } from "./ip-addr.js";
import { monitorTriggers } from "./ip-monitor.js";

/** problems: where a failing `ip` (snapshot or monitor) is reported, so that the status names it. */
export function netlinkEvents(
  runner: Runner,
  log: Logger,
  records?: PidRecords,
  hints: Observable<unknown> = EMPTY,
  problems?: Problems,
): Observable<Event> {
  const snapshot = async (): Promise<Event | undefined> => {
    try {
      const result = await runChecked(runner, ["ip", "-json", "addr", "show"]);
      const event: Event = { type: "links", links: parseIpAddrJson(result.stdout) };
      problems?.clear("interfaces");
      return event;
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      if (problems === undefined) log.error({ error }, "cannot read interfaces");
      else problems.set("interfaces", await explainIpFailure(runner, "cannot read interfaces", error));
      return undefined;
    }
  };
  const triggers = monitorTriggers({
    runner,
    argv: ["ip", "-o", "monitor", "link", "address"],
    recordName: "ip-monitor",
    records,
    log,
    problems,
  });
  // Hints from hotplug hooks are triggers too; they sit outside the retry so a restart does not touch them.
  return merge(triggers, hints).pipe(
    runLatest(snapshot),
    filter((e): e is Event => e !== undefined),
  );
}
