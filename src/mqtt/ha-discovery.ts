// The Home Assistant discovery part: the retained device config (discovery.ts builds it) on every connect, again
// (with the state) when Home Assistant announces itself, and its removal on request.
import type { Logger } from "pino";
import { STOP_STEP_MS, withTimeout, type Connection, type Part } from "./connection.js";
import { RETAINED } from "./latest-publisher.js";
import type { StatePart } from "./state-publisher.js";
import type { Topics } from "./topics.js";

/** Home Assistant's birth message is answered at most once per this interval. */
const BIRTH_INTERVAL_MS = 2000;

export interface DiscoveryPartOptions {
  connection: Connection;
  topics: Pick<Topics, "discovery" | "haStatus" | "state">;
  /** The discovery payload (JSON), built once at start. */
  payload: string;
  state: StatePart;
  log: Logger;
}

export interface DiscoveryPart extends Part {
  /** Empty retained payloads on the discovery and state topics: Home Assistant forgets the device. */
  remove(): Promise<void>;
}

export function startDiscovery(options: DiscoveryPartOptions): DiscoveryPart {
  const { connection, topics, payload, state, log } = options;
  const { client, publisher } = connection;
  let birthTimer: NodeJS.Timeout | undefined;
  let lastBirthAnswer = -Infinity;

  // Home Assistant announces itself once per start; anyone else repeating it gets at most one answer per interval.
  const answerBirth = () => {
    if (birthTimer !== undefined) return;
    const wait = Math.max(0, lastBirthAnswer + BIRTH_INTERVAL_MS - performance.now());
    birthTimer = setTimeout(() => {
      birthTimer = undefined;
      if (connection.stopping) return;
      lastBirthAnswer = performance.now(); // monotonic: a clock step must not hold off the answer
      log.info("Home Assistant is online; republishing discovery and state");
      publisher.publish(topics.discovery, payload, RETAINED);
      state.republish();
    }, wait);
  };

  return {
    topics: [topics.haStatus],
    onConnect: () => publisher.publish(topics.discovery, payload, RETAINED),
    onMessage(_topic, message) {
      if (message.toString("utf8").trim() === "online") answerBirth();
    },
    stop: () => clearTimeout(birthTimer),
    async remove() {
      if (!client.connected) throw new Error("not connected to the broker");
      await withTimeout(
        Promise.all([
          client.publishAsync(topics.discovery, "", RETAINED),
          client.publishAsync(topics.state, "", RETAINED),
        ]),
        STOP_STEP_MS,
        "broker did not acknowledge the removal",
      );
      log.info({ topic: topics.discovery }, "Home Assistant discovery removed");
    },
  };
}
