// The Home Assistant discovery part: the retained device configs (discovery.ts builds them) on every connect,
// again (with the state) when Home Assistant announces itself, and their removal on request. With a `devices:` list
// each LAN device has a config of its own: a device added at a reload is announced, a removed one's config is
// cleared (an empty retained message), so Home Assistant drops it.
import type { Logger } from "pino";
import type { Subscription } from "rxjs";
import type { AgentControl } from "../control.js";
import { STOP_STEP_MS, withTimeout, type Connection, type Part } from "./connection.js";
import { RETAINED } from "./latest-publisher.js";
import type { StatePart } from "./state-publisher.js";
import { subDeviceTopic, type Topics } from "./topics.js";

/** Home Assistant's birth message is answered at most once per this interval. */
const BIRTH_INTERVAL_MS = 2000;

export interface DiscoveryPartOptions {
  connection: Connection;
  topics: Pick<Topics, "discovery" | "haStatus" | "state" | "deviceId">;
  /** The gateway's discovery payload (JSON), built once at start. */
  payload: string;
  /**
   * With a `devices:` list: a LAN device's discovery payload (JSON) by name, and the agent whose status lists the
   * devices. Left out for the one-device shorthand (0.1's single Home Assistant device).
   */
  perDevice?: { payload: (name: string) => string; control: Pick<AgentControl, "status" | "statusChanges"> };
  state: StatePart;
  log: Logger;
}

export interface DiscoveryPart extends Part {
  /** Empty retained payloads on every discovery topic and the state topic: Home Assistant forgets the devices. */
  remove(): Promise<void>;
}

export function startDiscovery(options: DiscoveryPartOptions): DiscoveryPart {
  const { connection, topics, payload, perDevice, state, log } = options;
  const { client, publisher } = connection;
  let birthTimer: NodeJS.Timeout | undefined;
  let lastBirthAnswer = -Infinity;
  const namesNow = (): string[] => perDevice?.control.status().devices.map((d) => d.name) ?? [];
  /** The LAN devices announced, and those removed whose configs are cleared (again on every connect). */
  let announced = namesNow();
  const removed = new Set<string>();

  const announce = (name: string) => {
    if (perDevice !== undefined)
      publisher.publish(subDeviceTopic(topics, name), perDevice.payload(name), RETAINED);
  };
  const clear = (name: string) => publisher.publish(subDeviceTopic(topics, name), "", RETAINED);
  const publishAll = () => {
    publisher.publish(topics.discovery, payload, RETAINED);
    announced.forEach(announce);
  };

  // A reload adds and removes devices: compare the names on every status change (cheap), act on a difference.
  const watch: Subscription | undefined = perDevice?.control.statusChanges.subscribe({
    next: (status) => {
      const names = status.devices.map((d) => d.name);
      if (names.join("/") === announced.join("/")) return;
      for (const name of announced.filter((n) => !names.includes(n))) {
        removed.add(name);
        clear(name);
        log.info({ device: name }, "device removed; Home Assistant discovery cleared");
      }
      for (const name of names.filter((n) => !announced.includes(n))) {
        removed.delete(name);
        announce(name);
      }
      announced = names;
    },
    error: (e: unknown) => log.warn({ error: String(e) }, "status stream failed"),
  });

  // Home Assistant announces itself once per start; anyone else repeating it gets at most one answer per interval.
  const answerBirth = () => {
    if (birthTimer !== undefined) return;
    const wait = Math.max(0, lastBirthAnswer + BIRTH_INTERVAL_MS - performance.now());
    birthTimer = setTimeout(() => {
      birthTimer = undefined;
      if (connection.stopping) return;
      lastBirthAnswer = performance.now(); // monotonic: a clock step must not hold off the answer
      log.info("Home Assistant is online; republishing discovery and state");
      publishAll();
      state.republish();
    }, wait);
  };

  return {
    topics: [topics.haStatus],
    onConnect() {
      publishAll();
      removed.forEach(clear);
    },
    onMessage(_topic, message) {
      if (message.toString("utf8").trim() === "online") answerBirth();
    },
    stop() {
      clearTimeout(birthTimer);
      watch?.unsubscribe();
    },
    async remove() {
      if (!client.connected) throw new Error("not connected to the broker");
      const deviceTopics = [...announced, ...removed].map((name) => subDeviceTopic(topics, name));
      await withTimeout(
        Promise.all(
          [topics.discovery, ...deviceTopics, topics.state].map((t) => client.publishAsync(t, "", RETAINED)),
        ),
        STOP_STEP_MS,
        "broker did not acknowledge the removal",
      );
      log.info({ topic: topics.discovery, devices: deviceTopics.length }, "Home Assistant discovery removed");
    },
  };
}
