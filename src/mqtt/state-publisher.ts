// The state part: the retained `<base>/state` JSON (state.ts), published in full on every connect, on every
// status change that changes it (coalesced to one per turn of the event loop, so the agent's pipeline never waits)
// and on every health tick (with its probe report).
import type { Logger } from "pino";
import { Subscription, type Observable } from "rxjs";
import type { AgentControl, ProbeReport } from "../control.js";
import type { Connection, Part } from "./connection.js";
import { RETAINED } from "./latest-publisher.js";
import type { Instance } from "./publisher-watch.js";
import { buildState, stateKey, type HealthState, type PublishedStatus } from "./state.js";

export interface StatePublishingOptions {
  connection: Connection;
  control: AgentControl;
  /** The agent's health ticks, each with its probe report: the state is published at least once a tick. */
  probeReports: Observable<ProbeReport>;
  topic: string;
  version: string;
  instance: Instance;
  now: () => number;
  log: Logger;
  scrub: (text: string) => string;
}

export interface StatePart extends Part {
  /** The state as it would be published now. */
  current(): HealthState;
  /**
   * Takes a probe report (a tick's or a command's) and publishes the state with it. A report of one device replaces
   * that device's results only.
   */
  noteProbe(report: ProbeReport, device?: string): void;
  /** Publishes the state now, even when it is unchanged (Home Assistant's birth). */
  republish(): void;
}

/** The last full report with one device's results replaced by those of a newer report of that device. */
export function mergeProbe(last: ProbeReport, report: ProbeReport, device: string): ProbeReport {
  const results = [...last.results.filter((r) => r.device !== device), ...report.results];
  return { at: report.at, ok: results.every((r) => r.ok), results };
}

export function startStatePublishing(options: StatePublishingOptions): StatePart {
  const { connection, control, topic, version, instance, now, log, scrub } = options;
  const { client, publisher } = connection;
  const subscriptions = new Subscription();
  let lastKey: string | undefined;
  let lastProbe: ProbeReport | null = null;
  let pendingStatus: PublishedStatus | undefined;
  let statusScheduled = false;

  const current = (status?: PublishedStatus): HealthState => ({
    ...buildState(status ?? control.status(), lastProbe, version, now()),
    instance,
  });

  /** Publishes the state when it differs from the last one sent on this connection, or always when forced. */
  const push = (force: boolean, status?: PublishedStatus) => {
    if (!client.connected) return;
    let state: HealthState;
    try {
      state = current(status);
    } catch (e) {
      log.warn({ error: String(e) }, "cannot build the state");
      return;
    }
    const key = stateKey(state);
    if (!force && key === lastKey) return;
    lastKey = key;
    publisher.publish(topic, scrub(JSON.stringify(state)), RETAINED);
  };

  const noteProbe = (report: ProbeReport, device?: string) => {
    lastProbe = device === undefined || lastProbe === null ? report : mergeProbe(lastProbe, report, device);
    push(true);
  };

  // Status changes arrive inside the agent's pipeline: note the latest and return at once.
  subscriptions.add(
    control.statusChanges.subscribe({
      next: (status) => {
        pendingStatus = status;
        if (statusScheduled) return;
        statusScheduled = true;
        setImmediate(() => {
          statusScheduled = false;
          const latest = pendingStatus;
          pendingStatus = undefined;
          if (latest !== undefined && !connection.stopping) push(false, latest);
        });
      },
      error: (e: unknown) => log.warn({ error: String(e) }, "status stream failed"),
    }),
  );
  subscriptions.add(
    options.probeReports.subscribe({
      next: (report) => noteProbe(report),
      error: (e: unknown) => log.warn({ error: String(e) }, "probe stream failed"),
    }),
  );

  return {
    topics: [],
    onConnect() {
      lastKey = undefined;
      push(true);
    },
    onClose() {
      lastKey = undefined;
    },
    stop: () => subscriptions.unsubscribe(),
    current: () => current(),
    noteProbe,
    republish: () => push(true),
  };
}
