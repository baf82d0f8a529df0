// Changes to our nft table made behind our back. Debian's stock /etc/nftables.conf begins with `flush ruleset`, so
// `systemctl reload nftables` deletes `table ip sixgate`; without a watch it stayed gone until the next health tick.
// `nft -j monitor ruleset` lines are only triggers, like `ip monitor` lines: the agent answers one by reading our
// table back and repairing what differs (Agent.reconcile), so a lost, repeated or misread line does no harm.
import { asyncScheduler, filter, map, throttleTime, type Observable } from "rxjs";
import type { Logger } from "pino";
import { NFT_TABLE } from "../core/render/nft.js";
import type { Runner } from "../effects/exec.js";
import type { PidRecords } from "../effects/pid-records.js";
import type { Problems } from "../util/problems.js";
import { monitorTriggers } from "./ip-monitor.js";

/**
 * How long after the first change of a burst the hint is sent: one transaction (a `flush ruleset` with a whole new
 * ruleset) prints an event per object, and a script of single `nft` commands prints a burst; one check covers it.
 */
export const NFT_QUIET_MS = 50;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * True when a `nft -j monitor` line may concern `table ip sixgate`. A line is one event (libnftables-json(5)):
 * `{"add"|"delete": {"table": {"family": "ip", "name": "sixgate", ...}}}`, or for an object in a table (chain,
 * rule, set, element...) `{"delete": {"rule": {"family": "ip", "table": "sixgate", ...}}}`. A flushed chain, table
 * or ruleset is reported as the deletion of each rule and object. Another table's event is false; a line that is
 * not such an event (a future format) is true: a needless check costs one read, a missed change a health tick.
 */
export function concernsOurTable(line: string): boolean {
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    return true;
  }
  if (!isObject(event)) return true;
  const [action] = Object.values(event);
  if (!isObject(action)) return true;
  const [kind, object] = Object.entries(action)[0] ?? [];
  if (!isObject(object)) return true;
  const table = kind === "table" ? object.name : object.table;
  return object.family === "ip" && table === NFT_TABLE;
}

/**
 * Emits when `table ip sixgate` may have changed: once when the monitor (re)starts (anything may have happened
 * while none ran), then at most once per NFT_QUIET_MS while events about our table arrive. Events about other
 * tables are ignored. Our own writes are reported too: the consumer's read-back finds them in place. A monitor that
 * exits is a problem in `problems` (the status names it) until its successor has run a while.
 */
export function nftTableChanges(
  runner: Runner,
  log: Logger,
  records?: PidRecords,
  problems?: Problems,
): Observable<void> {
  const argv = ["nft", "-j", "monitor", "ruleset"];
  // The monitor's "start" at each (re)start is no event line, so it counts as ours: a check after every restart.
  return monitorTriggers({ runner, argv, recordName: "nft-monitor", records, log, problems }).pipe(
    filter(concernsOurTable),
    throttleTime(NFT_QUIET_MS, asyncScheduler, { leading: false, trailing: true }),
    map(() => undefined),
  );
}
