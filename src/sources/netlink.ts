// Interface and address events. `ip monitor` lines are only triggers: each one is followed by an
// `ip -json addr` snapshot, so a lost, duplicated or misread line does no harm.
import { EMPTY, Observable, filter, merge } from "rxjs";
import type { Logger } from "pino";
import type { Event } from "../core/types.js";
import { runChecked, type Runner } from "../effects/exec.js";
import type { PidRecords } from "../effects/pid-records.js";
import { runLatest } from "../util/run-latest.js";
import { parseIpAddrJson } from "./ip-addr.js";
import { monitorTriggers } from "./ip-monitor.js";

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
  const triggers = monitorTriggers({
    runner,
    argv: ["ip", "-o", "monitor", "link", "address"],
    recordName: "ip-monitor",
    records,
    log,
  });
  // Hints from hotplug hooks are triggers too; they sit outside the retry so a restart does not touch them.
  return merge(triggers, hints).pipe(
    runLatest(snapshot),
    filter((e): e is Event => e !== undefined),
  );
}
