// The LAN interface's IPv4 neighbour table, where a device with a static address (no DHCP lease) is found by its
// MAC as soon as it talks. Watched only while a device is found by MAC. `ip monitor neigh` lines that name the MAC (or an
// entry that went unanswered) are triggers, as in netlink.ts: each is followed by an `ip -s -4 -json neigh show dev <lan>` snapshot, so a lost or
// misread line does no harm; the health tick's look-again and hotplug `neigh` hints are triggers too.
import { EMPTY, Observable, filter, merge } from "rxjs";
import type { Logger } from "pino";
import * as z from "zod";
import { isIPv4, normalizeMac } from "../core/addr.js";
import type { Event, Neighbour, NeighbourState } from "../core/types.js";
import { runChecked, type Runner } from "../effects/exec.js";
import type { PidRecords } from "../effects/pid-records.js";
import type { Problems } from "../util/problems.js";
import { runLatest } from "../util/run-latest.js";
import { monitorTriggers } from "./ip-monitor.js";

const STATES: readonly NeighbourState[] = [
  "PERMANENT",
  "NOARP",
  "REACHABLE",
  "STALE",
  "DELAY",
  "PROBE",
  "FAILED",
  "INCOMPLETE",
  "NONE",
];

// Every field optional but dst: an entry without a link-layer address (FAILED, INCOMPLETE) has no lladdr.
const entrySchema = z.looseObject({
  dst: z.string(),
  lladdr: z.string().optional(),
  state: z.array(z.string()).default([]),
  confirmed: z.number().int().min(0).optional(),
});

/**
 * Parses `ip [-s] -json neigh show` output (iproute2's JSON, ip-neighbour(8)): an array of entries with `dst`,
 * `lladdr`, `state` (a list of NUD state names) and, with -s, `confirmed` (seconds since the last confirmation).
 * Keeps the IPv4 entries, MAC lowercased (none for an unanswered entry); an entry whose `lladdr` is no MAC is
 * dropped, and so are unknown state names. Throws SyntaxError when the text is not JSON and z.ZodError when it is
 * not an array of entries with a `dst`.
 */
export function parseIpNeighJson(text: string): Neighbour[] {
  return z
    .array(entrySchema)
    .parse(JSON.parse(text))
    .flatMap((e) => {
      const mac = e.lladdr === undefined ? undefined : normalizeMac(e.lladdr);
      // A link-layer address that is no MAC makes the entry junk; none at all is an unanswered one.
      if ((e.lladdr !== undefined && mac === undefined) || !isIPv4(e.dst)) return [];
      const state = e.state.filter((s): s is NeighbourState => (STATES as readonly string[]).includes(s));
      return [{ address: e.dst, mac, state, confirmedAgoSec: e.confirmed }];
    });
}

/** One snapshot of `lan`'s IPv4 neighbours, as a `neighbours` event; undefined (logged) when it cannot be read. */
export async function readNeighbours(runner: Runner, lan: string, log: Logger): Promise<Event | undefined> {
  try {
    const result = await runChecked(runner, ["ip", "-s", "-4", "-json", "neigh", "show", "dev", lan]);
    return { type: "neighbours", neighbours: parseIpNeighJson(result.stdout) };
  } catch (e) {
    log.error({ error: String(e), interface: lan }, "cannot read the neighbour table");
    return undefined;
  }
}

/**
 * An entry that went unanswered has no MAC on its line, yet it can decide the device: a lease whose address FAILED
 * gives way to the device's static address (src/core/device.ts).
 */
const UNANSWERED = /\b(FAILED|INCOMPLETE)\b/;

/**
 * Neighbour snapshots of `lan` whenever an `ip monitor neigh` line names one of `macs` or an unanswered entry (or at
 * a hint). `lan` must be a validated interface name and `macs` normalised MACs (the config schema checks both). problems: where an exit of the
 * monitor is reported (see ip-monitor.ts).
 */
export function neighbourEvents(
  runner: Runner,
  lan: string,
  macs: readonly string[],
  log: Logger,
  records?: PidRecords,
  hints: Observable<unknown> = EMPTY,
  problems?: Problems,
): Observable<Event> {
  const triggers = monitorTriggers({
    runner,
    argv: ["ip", "-o", "monitor", "neigh"],
    recordName: "ip-monitor-neigh",
    records,
    log,
    problems,
  }).pipe(
    filter((line) => {
      if (line === "start" || UNANSWERED.test(line)) return true;
      const lower = line.toLowerCase();
      return macs.some((mac) => lower.includes(mac));
    }),
  );
  return merge(triggers, hints).pipe(
    runLatest(() => readNeighbours(runner, lan, log)),
    filter((e): e is Event => e !== undefined),
  );
}
