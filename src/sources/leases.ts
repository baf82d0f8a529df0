// DHCP leases from dnsmasq's lease file, re-read whenever its directory reports a change to it.
// dnsmasq may rewrite the file in place or replace it, so we watch the directory, not the file.
import { watch } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { EMPTY, Observable, debounceTime, defer, merge, of } from "rxjs";
import type { Logger } from "pino";
import { parseDnsmasqLeases } from "../core/leases.js";
import type { Event } from "../core/types.js";
import { retryWithBackoff } from "../util/retry-backoff.js";
import { runLatest } from "../util/run-latest.js";

const MAX_LEASE_FILE_BYTES = 1024 * 1024;
const SETTLE_MS = 30;

export async function readLeases(file: string, log: Logger): Promise<Event> {
  try {
    const text = await readFile(file, "utf8");
    if (text.length > MAX_LEASE_FILE_BYTES) {
      log.warn({ file }, "lease file larger than 1 MiB; reading its start only");
    }
    return { type: "leases", leases: parseDnsmasqLeases(text.slice(0, MAX_LEASE_FILE_BYTES)) };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") log.warn({ file, error: String(e) }, "cannot read the lease file");
    return { type: "leases", leases: [] };
  }
}

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

export function leaseEvents(
  file: string,
  log: Logger,
  hints: Observable<unknown> = EMPTY,
): Observable<Event> {
  // dnsmasq rewrites the file in place: a short quiet period avoids reading it half-written.
  const triggers = defer(() => merge(of("start"), directoryChanges(file).pipe(debounceTime(SETTLE_MS)))).pipe(
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
  );
  // A DHCP hook's message is a hint to read again, after the same quiet period.
  return merge(triggers, hints.pipe(debounceTime(SETTLE_MS))).pipe(runLatest(() => readLeases(file, log)));
}
