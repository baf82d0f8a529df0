// Watches our own state topic for another publisher: a second gateway configured with our base topic (or two
// 0.1 gateways that both defaulted to `sixgate/openwrt`). Both would obey every command sent there and fight over
// one Home Assistant device, so it is logged as an error once per intruder and shown in status.
import type { Logger } from "pino";

/** Who published a state: stamped into every state we publish (`instance`). */
export interface Instance {
  /** The machine fingerprint (identity.ts), or null when the machine has none. */
  machine: string | null;
  /** Random per agent start. */
  session: string;
}

export interface PublisherWatchOptions {
  stateTopic: string;
  ours: Instance;
  /** The 0.1 default base topic (`sixgate/<hostname>`) when the identity is now a default that differs from it. */
  legacyBaseTopic?: string;
  log: Logger;
}

export interface PublisherWatch {
  /** Topics to subscribe to. */
  readonly topics: string[];
  /** Takes a message on one of those topics. */
  onMessage(topic: string, payload: Buffer, retained: boolean): void;
  /** The other publisher, described for status; null while none was seen. */
  readonly conflict: string | null;
}

function instanceOf(payload: Buffer): Partial<Instance> | undefined {
  try {
    const value: unknown = JSON.parse(payload.toString("utf8"));
    if (typeof value !== "object" || value === null) return undefined;
    const instance = (value as { instance?: unknown }).instance;
    if (typeof instance !== "object" || instance === null) return {};
    const { machine, session } = instance as Record<string, unknown>;
    return {
      ...(typeof machine === "string" ? { machine } : {}),
      ...(typeof session === "string" ? { session } : {}),
    };
  } catch {
    return undefined;
  }
}

export function watchPublishers(options: PublisherWatchOptions): PublisherWatch {
  const { stateTopic, ours, log } = options;
  const legacyAvailability =
    options.legacyBaseTopic !== undefined ? `${options.legacyBaseTopic}/availability` : undefined;
  const reported = new Set<string>();
  let conflict: string | null = null;
  let legacyReported = false;

  const onState = (payload: Buffer, retained: boolean) => {
    if (payload.length === 0) return; // a cleanup
    const theirs = instanceOf(payload);
    if (theirs === undefined || theirs.session === ours.session) return; // not a state, or our own echo
    // A retained state is what was there before we came: our own predecessor on this machine, or someone else.
    // A live one is someone publishing now.
    const otherMachine =
      theirs.machine !== undefined && ours.machine !== null && theirs.machine !== ours.machine;
    if (retained && !otherMachine) return;
    const who = `machine ${theirs.machine ?? "unknown"}, session ${theirs.session ?? "unknown (sixgate 0.1?)"}`;
    conflict = `another publisher on ${stateTopic} (${who}): two gateways share this identity`;
    if (reported.has(who)) return;
    reported.add(who);
    log.error(
      { topic: stateTopic, other: theirs, ours, retained },
      "ANOTHER GATEWAY PUBLISHES ON OUR BASE TOPIC: commands sent there reach both and Home Assistant mixes them " +
        "up; give each gateway its own mqtt.nodeId or mqtt.baseTopic",
    );
  };

  const onLegacy = (payload: Buffer, retained: boolean) => {
    if (!retained || payload.length === 0 || legacyReported) return;
    legacyReported = true;
    log.warn(
      { legacyBaseTopic: options.legacyBaseTopic, baseTopic: stateTopic.replace(/\/state$/, "") },
      "found retained messages under the 0.1 default base topic: if they are this gateway's, set " +
        "mqtt.baseTopic to that topic to keep its Home Assistant device and history (see docs/mqtt.md, upgrading)",
    );
  };

  return {
    topics: legacyAvailability === undefined ? [stateTopic] : [stateTopic, legacyAvailability],
    onMessage(topic, payload, retained) {
      if (topic === stateTopic) onState(payload, retained);
      else if (topic === legacyAvailability) onLegacy(payload, retained);
    },
    get conflict() {
      return conflict;
    },
  };
}
