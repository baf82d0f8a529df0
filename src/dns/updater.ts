// Keeps each name's AAAA record at the address the agent's status gives it (src/core/dns.ts), by RFC 2136 dynamic
// updates signed with TSIG (RFC 8945), sent by nsupdate through the one runner. It runs beside the reconciler, fed by
// the agent's status stream (as the MQTT state part is): a slow or refusing server never delays the proxy.
// A stopped agent leaves the records as they are: they keep pointing at the last address until the next start.
// A name the configuration no longer has is deleted from the zone, when sixgate wrote it (owned-names.ts).
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
  of,
  retry,
  switchMap,
  tap,
  timer,
  type Observable,
} from "rxjs";
import type { Logger } from "pino";
import type { OwnedNames } from "./owned-names.js";
import { parseDnsServer, type DnsConfig } from "../config/dns.js";
import { canonicalIPv6 } from "../core/addr.js";
import { wantedRecords, type DnsRecord, type RecordSource } from "../core/dns.js";
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
  /** The record of the names written (stateDir/dns-names.json); without it, only names of this run are removed. */
  owned?: OwnedNames;
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

/** Throws unless `name` is a name of `zone` that may reach nsupdate's input. */
function checkName(config: DnsConfig, name: string): void {
  if (!/^[a-z0-9.-]+$/.test(name) || !name.endsWith(`.${config.zone}`))
    throw new Error(`${name} is not a name in ${config.zone}`);
}

/** The script's head: the server it is sent to and the zone (nsupdate(1)). */
function scriptHead(config: DnsConfig): string[] {
  const server = parseDnsServer(config.server);
  if (server === undefined) throw new Error(`dns.server ${config.server} is not an address`);
  return [`server ${server.address} ${server.port}`, `zone ${config.zone}`];
}

/**
 * The nsupdate script (nsupdate(1)) that replaces every AAAA record of `name` with one for `address`, in one signed
 * message: the server applies both or neither. Throws for a name or address that must not reach the command.
 */
export function updateScript(config: DnsConfig, name: string, address: string): string {
  checkName(config, name);
  if (canonicalIPv6(address) !== address) throw new Error(`${address} is not a canonical IPv6 address`);
  return [
    ...scriptHead(config),
    `update delete ${name}. AAAA`,
    `update add ${name}. ${config.ttl} AAAA ${address}`,
    "send",
    "",
  ].join("\n");
}

/** The nsupdate script that deletes every AAAA record of `name` (a name sixgate wrote and no longer keeps). */
export function removeScript(config: DnsConfig, name: string): string {
  checkName(config, name);
  return [...scriptHead(config), `update delete ${name}. AAAA`, "send", ""].join("\n");
}

/** What the updater keeps a name at: an address (null: none known, left alone), or gone from the zone. */
type Intent = { name: string; address: string | null } | { name: string; remove: true };

const intentKey = (i: Intent): string => ("remove" in i ? "remove" : `address ${i.address ?? "none"}`);

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

  /** Names sixgate wrote (recorded) or keeps in this run: the only ones it ever removes. */
  let owned = new Set<string>();
  /** Saves of the record, one after another; a failed save is logged and made good by the next. */
  const remember = (name: string, keep: boolean) => {
    const had = owned.has(name);
    if (had === keep) return;
    if (keep) owned.add(name);
    else owned.delete(name);
    options.owned
      ?.save(new Set(owned))
      .catch((e: unknown) => log.warn({ error: String(e) }, "cannot record the DNS names sixgate wrote"));
  };

  /** Runs one nsupdate script after the one before it has ended. */
  const send = (script: () => string): Promise<unknown> => {
    const run = tail.then(() =>
      runChecked(runner, ["nsupdate", "-k", config.keyFile, "-t", String(NSUPDATE_TIMEOUT_SEC)], {
        input: script(),
      }),
    );
    tail = run.catch(() => undefined);
    return run;
  };

  /** Tried until it succeeds, the delay doubling; each failure is logged and handed to `failed`. */
  const withRetry = (attempt: () => Promise<unknown>, context: object, failed: (error: string) => void) =>
    defer(attempt).pipe(
      retry({
        delay: (error: unknown, count: number) => {
          const lastError = describeFailure(error);
          const delayMs = Math.min(backoff.initialMs * 2 ** (count - 1), backoff.maxMs);
          log.warn({ ...context, error: lastError, retryInMs: delayMs }, "DNS update failed");
          failed(lastError);
          return timer(delayMs);
        },
      }),
    );

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

  /** Keeps one name as its intents say: at the latest address, or (a name no longer configured) out of the zone. */
  const follow = (name: string, intents: Observable<Intent>) =>
    intents.pipe(
      distinctUntilChanged((a, b) => intentKey(a) === intentKey(b)),
      tap((intent) => {
        if ("remove" in intent) return;
        changedAt.set(name, performance.now());
        patch(name, { address: intent.address, state: "pending" });
      }),
      filter((intent) => "remove" in intent || intent.address !== null),
      // A new intent replaces the attempt for the old one (its retry timer is dropped; a send in flight finishes
      // first, as sends run one at a time).
      switchMap((intent) => {
        if ("remove" in intent)
          return withRetry(
            () => send(() => removeScript(config, name)),
            { name, removing: true },
            () => undefined,
          ).pipe(
            tap(() => {
              log.info({ name }, "DNS record removed: the name is no longer configured");
              remember(name, false);
            }),
          );
        const address = intent.address ?? "";
        remember(name, true);
        return withRetry(
          () => send(() => updateScript(config, name, address)),
          { name, address },
          (lastError) => patch(name, { state: "failed", lastError }),
        ).pipe(
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
        );
      }),
    );

  /**
   * The intents of one status: each wanted record, and a removal for each name owned (recorded, or kept earlier in
   * this run) that is no longer wanted. An owned name outside the zone now configured cannot be removed with its
   * key: it is dropped from the record with a warning.
   */
  const intentsOf = (wanted: readonly DnsRecord[]): Intent[] => {
    const names = new Set(wanted.map((w) => w.name));
    const removals: Intent[] = [];
    for (const name of owned) {
      if (names.has(name)) continue;
      if (!name.endsWith(`.${config.zone}`)) {
        log.warn(
          { name, zone: config.zone },
          "a DNS name sixgate wrote is outside dns.zone now: left as it is",
        );
        remember(name, false);
      } else removals.push({ name, remove: true });
    }
    return [...wanted, ...removals];
  };

  return {
    start(statuses) {
      subscription?.unsubscribe();
      const recorded = options.owned;
      // Without a record, at once: the status lists the wanted names from the first moment.
      const loaded = recorded === undefined ? of(new Set<string>()) : defer(() => recorded.load());
      const intents = loaded.pipe(
        tap((recorded) => (owned = recorded)),
        switchMap(() => statuses),
        map((s) => wantedRecords(s, config)),
        tap(want),
        map(intentsOf),
      );
      subscription = intents
        .pipe(
          mergeMap((list) => from(list)),
          groupBy((i) => i.name),
          mergeMap((group) => follow(group.key, group)),
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
