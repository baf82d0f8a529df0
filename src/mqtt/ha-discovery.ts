// The Home Assistant discovery part: the retained device configs (discovery.ts builds them) on every connect,
// again (with the state) when Home Assistant announces itself, and their removal on request. They follow the config
// in force, as the agent's status tells it: with the one-device shorthand, 0.1's single device; with a `devices:`
// list, the gateway and a config per LAN device. A reload that adds a device announces it; one that removes a device
// clears its config (an empty retained message), so Home Assistant drops it; one that switches between the two forms
// republishes the gateway's config in the new form and announces or clears the LAN devices'.
import type { Logger } from "pino";
import type { Subscription } from "rxjs";
import type { AgentControl } from "../control.js";
import type { AgentStatus } from "../core/status.js";
import { STOP_STEP_MS, withTimeout, type Connection, type Part } from "./connection.js";
import { RETAINED } from "./latest-publisher.js";
import type { StatePart } from "./state-publisher.js";
import { subDeviceTopic, type Topics } from "./topics.js";

/** Home Assistant's birth message is answered at most once per this interval. */
const BIRTH_INTERVAL_MS = 2000;

/** The form of the gateway's config (DiscoveryOptions.perDevice and deviceName in discovery.ts). */
export interface GatewayForm {
  /** A `devices:` list: each LAN device is a Home Assistant device of its own. */
  perDevice: boolean;
  /** The shorthand's device has a DNS name: its address and name entities are announced. */
  deviceName: boolean;
}

/** The gateway's form for the config a status describes. */
export function gatewayForm(status: Pick<AgentStatus, "shorthand" | "devices">): GatewayForm {
  const perDevice = !status.shorthand;
  return { perDevice, deviceName: !perDevice && status.devices[0]?.hostname != null };
}

export interface DiscoveryPayloads {
  /** The gateway's discovery payload (JSON) in a form. */
  gateway: (form: GatewayForm) => string;
  /** A LAN device's discovery payload (JSON), by name (a `devices:` list only). */
  device: (name: string) => string;
}

export interface DiscoveryPartOptions {
  connection: Connection;
  topics: Pick<Topics, "discovery" | "haStatus" | "state" | "deviceId">;
  payloads: DiscoveryPayloads;
  /** The agent: its status says the config's form and its devices, now and after each reload. */
  control: Pick<AgentControl, "status" | "statusChanges">;
  state: StatePart;
  log: Logger;
}

export interface DiscoveryPart extends Part {
  /** Empty retained payloads on every discovery topic and the state topic: Home Assistant forgets the devices. */
  remove(): Promise<void>;
}

const sameForm = (a: GatewayForm, b: GatewayForm) =>
  a.perDevice === b.perDevice && a.deviceName === b.deviceName;

export function startDiscovery(options: DiscoveryPartOptions): DiscoveryPart {
  const { connection, topics, payloads, control, state, log } = options;
  const { client, publisher } = connection;
  let birthTimer: NodeJS.Timeout | undefined;
  let lastBirthAnswer = -Infinity;
  /** The LAN devices of a status: its devices with a `devices:` list, none with the shorthand. */
  const namesOf = (status: AgentStatus): string[] =>
    gatewayForm(status).perDevice ? status.devices.map((d) => d.name) : [];
  let form = gatewayForm(control.status());
  let payload = payloads.gateway(form);
  /** The LAN devices announced, and those removed whose configs are cleared (again on every connect). */
  let announced = namesOf(control.status());
  const removed = new Set<string>();

  const announce = (name: string) =>
    publisher.publish(subDeviceTopic(topics, name), payloads.device(name), RETAINED);
  const clear = (name: string) => publisher.publish(subDeviceTopic(topics, name), "", RETAINED);
  const publishAll = () => {
    publisher.publish(topics.discovery, payload, RETAINED);
    announced.forEach(announce);
  };

  // A reload changes the form and adds and removes devices: compare on every status change (cheap), act on a
  // difference.
  const watch: Subscription = control.statusChanges.subscribe({
    next: (status) => {
      const next = gatewayForm(status);
      if (!sameForm(next, form)) {
        form = next;
        payload = payloads.gateway(form);
        publisher.publish(topics.discovery, payload, RETAINED);
        log.info({ form }, "configuration form changed; Home Assistant discovery republished");
      }
      const names = namesOf(status);
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
      watch.unsubscribe();
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
