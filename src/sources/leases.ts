// DHCP leases from the lease files (dnsmasq, odhcpd), all re-read whenever a directory reports a change to one.
// A DHCP server may rewrite its file in place or replace it, so we watch each file's directory, not the file.
import { watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { EMPTY, Observable, debounceTime, defer, merge, of } from "rxjs";
import type { Logger } from "pino";
import { UNRECOGNISED_FORMAT, parseLeaseFile, type LeaseFileReport } from "../core/leases.js";
import type { Event, Lease } from "../core/types.js";
import { retryWithBackoff } from "../util/retry-backoff.js";
import { runLatest } from "../util/run-latest.js";

const MAX_LEASE_FILE_BYTES = 1024 * 1024;
const SETTLE_MS = 30;

/** Reads one lease file: its leases and a report of what it held. A missing file has no leases. */
export async function readLeaseFile(file: string): Promise<{ leases: Lease[]; report: LeaseFileReport }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const format = code === "ENOENT" ? "missing" : "unreadable";
    return { leases: [], report: { file, format, leases: 0, badLines: 0, error: code ?? String(e) } };
  }
  const truncated = text.length > MAX_LEASE_FILE_BYTES;
  const parsed = parseLeaseFile(truncated ? text.slice(0, MAX_LEASE_FILE_BYTES) : text);
  const report: LeaseFileReport = {
    file,
    format: parsed.format,
    leases: parsed.leases.length,
    badLines: parsed.badLines,
    ...(truncated ? { error: "larger than 1 MiB; read its start only" } : {}),
  };
  return { leases: parsed.leases, report };
}

/** What is worth a log line in a report, and at which level; undefined when nothing is. */
function trouble(r: LeaseFileReport): ["info" | "warn", string] | undefined {
  if (r.format === "missing") return ["info", "lease file does not exist (yet)"];
  if (r.format === "unreadable") return ["warn", "cannot read the lease file"];
  if (r.format === "unknown") return ["warn", `lease file: ${UNRECOGNISED_FORMAT}`];
  if (r.error !== undefined) return ["warn", `lease file ${r.error}`];
  if (r.badLines > 0) return ["warn", "lease file lines skipped: they fit no lease record"];
  return undefined;
}

/**
 * Reads every lease file and merges their leases into one event, in the order the files are listed. Each file's
 * trouble (an unknown format, a read error, skipped lines) is logged once while it lasts: `logged` remembers what
 * was said per file across reads (a fresh map logs everything once, as a one-shot reader wants).
 */
export async function readLeases(
  files: readonly string[],
  log: Logger,
  logged: Map<string, string> = new Map(),
): Promise<Event> {
  const read = await Promise.all(files.map(readLeaseFile));
  for (const { report } of read) {
    const what = trouble(report);
    const key = JSON.stringify(report);
    if (what === undefined) logged.delete(report.file);
    else if (logged.get(report.file) !== key) {
      logged.set(report.file, key);
      log[what[0]]({ ...report }, what[1]);
    }
  }
  return { type: "leases", leases: read.flatMap((r) => r.leases), files: read.map((r) => r.report) };
}

/** Changes to `file` as its directory reports them (the name, or an unnamed event that may be it). */
function directoryChanges(file: string): Observable<string> {
  return new Observable<string>((subscriber) => {
    const name = basename(file);
    const watcher = watch(dirname(file), { persistent: false }, (_kind, changed) => {
      if (changed === null || changed === name) subscriber.next("change");
    });
    watcher.on("error", (e) => subscriber.error(e));
    return () => watcher.close();
  });
}

/**
 * Lease events for `files`: one read at subscription, then one after each change any of their directories reports,
 * and after each hint (a DHCP hook's message, the health tick's look-again). Every read reads all files.
 */
export function leaseEvents(
  files: readonly string[],
  log: Logger,
  hints: Observable<unknown> = EMPTY,
): Observable<Event> {
  // Each directory watch fails and retries on its own: a missing /tmp/hosts leaves the dnsmasq file watched.
  // A watch (re)started reads again: a change while unwatched would go unseen.
  const watches = files.map((file) =>
    defer(() => merge(of("watching"), directoryChanges(file))).pipe(
      retryWithBackoff({
        initialMs: 1000,
        maxMs: 30000,
        resetAfterMs: 60000,
        onRetry: (error, delayMs) =>
          log.warn(
            { file, error: String(error), delayMs },
            "cannot watch the lease file's directory; retrying",
          ),
      }),
    ),
  );
  const logged = new Map<string, string>();
  // A server rewrites its file in place: a short quiet period avoids reading it half-written. A hint waits as long.
  return merge(...watches, hints).pipe(
    debounceTime(SETTLE_MS),
    runLatest(() => readLeases(files, log, logged)),
  );
}
