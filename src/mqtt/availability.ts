// The availability part: `online` (retained) on every connect, `offline` on a clean stop; the last will says
// `offline` for us when the agent dies (set on the connection, see connection.ts).
import type { Logger } from "pino";
import { STOP_STEP_MS, withTimeout, type Connection, type Part } from "./connection.js";
import { RETAINED } from "./latest-publisher.js";
import { AVAILABLE, NOT_AVAILABLE } from "./topics.js";

export function startAvailability(connection: Connection, topic: string, log: Logger): Part {
  const { client, publisher } = connection;
  return {
    topics: [topic],
    onConnect: () => publisher.publish(topic, AVAILABLE, RETAINED),
    onMessage(_topic, payload, retained) {
      // A live "offline" while we are connected is a stale last will: an earlier session of ours (before a crash or
      // a reboot) that the broker declares dead only now, up to 1.5 keepalives later. Say online again at once.
      // A retained copy is what was there when we subscribed; our own "online" follows it anyway.
      if (!retained && payload.toString("utf8") === NOT_AVAILABLE) {
        log.warn({ topic }, "an earlier session's last will said offline; publishing online again");
        publisher.publish(topic, AVAILABLE, RETAINED);
      }
    },
    async stop() {
      if (!client.connected) return;
      try {
        await withTimeout(client.publishAsync(topic, NOT_AVAILABLE, RETAINED), STOP_STEP_MS, "timeout");
      } catch (e) {
        log.warn({ error: String(e) }, "could not publish offline");
      }
    },
  };
}
