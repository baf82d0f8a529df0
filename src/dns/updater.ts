// Keeps each name's AAAA record at the address the agent's status gives it (src/core/dns.ts), by RFC 2136 dynamic
// updates signed with TSIG (RFC 8945), sent by nsupdate through the one runner. It runs beside the reconciler, fed by
// the agent's status stream (as the MQTT state part is): a slow or refusing server never delays the proxy.
// A stopped agent leaves the records as they are: they keep pointing at the last address until the next start.
import {
  Subject,
  Subscription,
  defer,
  distinctUntilChanged,
  filter,
  from,
  groupBy,
  map,
  mergeMap,
  retry,
  switchMap,
  tap,
  timer,
  type Observable,
} from "rxjs";
import type { Logger } from "pino";
import { parseDnsServer, type DnsConfig } from "../config/dns.js";
import { canonicalIPv6 } from "../core/addr.js";
import { wantedRecords, type RecordSource } from "../core/dns.js";
import type { DnsRecordStatus, DnsStatus } from "../core/status.js";
import { runChecked, type Runner } from "../effects/exec.js";

/** A failed update is tried again after a delay doubling from `initialMs` up to `maxMs`, for as long as it fails. */
export const DNS_RETRY_MS = { initialMs: 1000, maxMs: 60_000 };

/** nsupdate's own wait for the server's answer (`-t`, seconds); the runner's commandTimeoutMs bounds it too. */
const NSUPDATE_TIMEOUT_SEC = 5;

export interface DnsUpdaterOptions {
  runner: Runner;
  log: Logger;
  config: DnsConfig;
  retry?: { initialMs: number; maxMs: number };
  /** Wall clock for `updatedAt` (ms since the epoch). */
  now?: () => number;
}

export interface DnsUpdater {
  /** Follows these statuses (the agent's statusChanges) until stop(). */
  start(statuses: Observable<RecordSource>): void;
  /** Stops following; an update in flight ends on its own (its timeout bounds it). The records stay as they are. */
  stop(): void;
  status(): DnsStatus;
  /** Emits after each change of status(). */
  readonly changes: Observable<void>;
}

/**
 * The nsupdate script (nsupdate(1)) that replaces every AAAA record of `name` with one for `address`, in one signed
 * message: the server applies both or neither. Throws for a name or address that must not reach the command.
 */
export function updateScript(config: DnsConfig, name: string, address: string): string {
  const server = parseDnsServer(config.server);
  if (server === undefined) throw new Error(`dns.server ${config.server} is not an address`);
  if (canonicalIPv6(address) !== address) throw new Error(`${address} is not a canonical IPv6 address`);
  if (!/^[a-z0-9.-]+$/.test(name) || !name.endsWith(`.${config.zone}`))
    throw new Error(`${name} is not a name in ${config.zone}`);
  return [
    `server ${server.address} ${server.port}`,
    `zone ${config.zone}`,
    `update delete ${name}. AAAA`,
    `update add ${name}. ${config.ttl} AAAA ${address}`,
    "send",
    "",
  ].join("\n");
}

/** The error as status shows it: nsupdate's own words, and what to check for the usual refusals. */
export function describeFailure(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  if (/NOTAUTH|BADKEY|BADSIG|BADTIME|tsig/i.test(text))
    return `${text} (the server refused the TSIG key: check dns.keyFile against the server's key, and the clocks)`;
  if (/REFUSED/.test(text)) return `${text} (the server does not let this key update the zone)`;
  return text;
}

export function createDnsUpdater(options: DnsUpdaterOptions): DnsUpdater {
  const { runner, log, config } = options;
  const backoff = options.retry ?? DNS_RETRY_MS;
  const now = options.now ?? Date.now;
  const changes = new Subject<void>();
  /** Every wanted name's state, in the order of the latest wanted set. */
  let records: DnsRecordStatus[] = [];
  /** When each name's address last changed (monotonic ms): the start of its latency. */
  const changedAt = new Map<string, number>();
  let subscription: Subscription | undefined;
  /** One nsupdate at a time: a late answer for an old address can never land after the new one. */
  let tail: Promise<unknown> = Promise.resolve();

  const patch = (name: string, change: Partial<DnsRecordStatus>) => {
    records = records.map((r) => (r.name === name ? { ...r, ...change } : r));
    changes.next();
  };

  const send = (name: string, address: string): Promise<unknown> => {
    const run = tail.then(() =>
      runChecked(runner, ["nsupdate", "-k", config.keyFile, "-t", String(NSUPDATE_TIMEOUT_SEC)], {
        input: updateScript(config, name, address),
      }),
    );
    tail = run.catch(() => undefined);
    return run;
  };

  /** The wanted set: names gone from it (a hostname removed at a reload) leave the status; new ones are pending. */
  const want = (wanted: readonly { name: string; address: string | null }[]) => {
    const next = wanted.map(
      (w): DnsRecordStatus =>
        records.find((r) => r.name === w.name) ?? {
          name: w.name,
          address: w.address,
          state: "pending",
          lastError: null,
          updatedAt: null,
          latencyMs: null,
        },
    );
    if (JSON.stringify(next) !== JSON.stringify(records)) {
      records = next;
      changes.next();
    }
  };

  const follow = (name: string, addresses: Observable<string | null>) =>
    addresses.pipe(
      distinctUntilChanged(),
      tap((address) => {
        changedAt.set(name, performance.now());
        patch(name, { address, state: "pending" });
      }),
      filter((address): address is string => address !== null),
      // A new address replaces the attempt for the old one (its retry timer is dropped; a send in flight finishes
      // first, as sends run one at a time).
      switchMap((address) =>
        defer(() => send(name, address)).pipe(
          retry({
            delay: (error: unknown, count: number) => {
              const lastError = describeFailure(error);
              const delayMs = Math.min(backoff.initialMs * 2 ** (count - 1), backoff.maxMs);
              log.warn({ name, address, error: lastError, retryInMs: delayMs }, "DNS update failed");
              patch(name, { state: "failed", lastError });
              return timer(delayMs);
            },
          }),
          tap(() => {
            const latencyMs = Math.round(performance.now() - (changedAt.get(name) ?? performance.now()));
            log.info({ name, address, latencyMs }, "DNS record updated");
            patch(name, {
              state: "ok",
              lastError: null,
              updatedAt: new Date(now()).toISOString(),
              latencyMs,
            });
          }),
        ),
      ),
    );

  return {
    start(statuses) {
      subscription?.unsubscribe();
      const wanted = statuses.pipe(
        map((s) => wantedRecords(s, config)),
        tap(want),
      );
      subscription = wanted
        .pipe(
          mergeMap((list) => from(list)),
          groupBy((r) => r.name),
          mergeMap((group) => follow(group.key, group.pipe(map((r) => r.address)))),
        )
        .subscribe({ error: (e: unknown) => log.error({ error: String(e) }, "DNS updates stopped") });
    },
    stop() {
      subscription?.unsubscribe();
      subscription = undefined;
    },
    status: () => ({ server: config.server, zone: config.zone, records }),
    changes,
  };
}
