// The MQTT session: a connection (connection.ts) serving its parts: discovery, availability, state, the command
// responder (not when read-only) and the publisher watch. Nothing here ever waits on the broker in the agent's path:
// status changes are coalesced and handed to the client on the next turn of the event loop, publishes are
// fire-and-forget, and while the broker is away nothing queues up (every part republishes in full on reconnect).
import { hostname as osHostname } from "node:os";
import type { Logger } from "pino";
import type { Observable } from "rxjs";
import type { AgentControl, ProbeReport } from "../control.js";
import { startAvailability } from "./availability.js";
import { topicHostname, type MqttConfig } from "./config.js";
import { openConnection, type Part } from "./connection.js";
import { buildDeviceDiscovery, buildDiscovery } from "./discovery.js";
import { startDiscovery } from "./ha-discovery.js";
import { machineFingerprint } from "./identity.js";
import { watchPublishers, type Instance } from "./publisher-watch.js";
import { scrubSecrets } from "./redact.js";
import { randomHex } from "./sha256.js";
import { startResponder } from "./responder.js";
import { loadSecrets, secretStrings } from "./secrets.js";
import { startStatePublishing } from "./state-publisher.js";
import { topicsFor, type Topics } from "./topics.js";

export interface StartMqttOptions {
  config: MqttConfig;
  control: AgentControl;
  log: Logger;
  version: string;
  /** The agent's health ticks, each with its probe report: the state is published at least once a tick. */
  probeReports: Observable<ProbeReport>;
  /** The longest wait between two health ticks in seconds (longestTickGapSec); sets expire_after. Default 30. */
  tickIntervalSec?: number;
  /** Shown in Home Assistant's device name; default os.hostname(). */
  hostname?: string;
  now?: () => number;
  /** Reconnect backoff (doubling, with jitter); default 1 s up to 30 s. */
  reconnect?: { initialMs: number; maxMs: number };
  /** A command that takes longer is answered with an error (the action itself may still complete). Default 30 s. */
  commandTimeoutMs?: number;
}

export interface MqttView {
  connected: boolean;
  /** Scheme, host and port. */
  broker: string;
  baseTopic: string;
  readOnly: boolean;
  /** Why the last connection attempt failed, with what to check (refusal hints); null once connected. */
  lastError: string | null;
  /** Another publisher seen on our state topic (two gateways with one identity); null if none. */
  conflict: string | null;
}

export interface MqttHandle {
  readonly topics: Topics;
  /** True while connected to the broker. */
  readonly connected: boolean;
  /** The `mqtt` section of the status file. Holds no secret: the URL cannot carry credentials, errors are scrubbed. */
  view(): MqttView;
  /** Publishes `offline` (retained), disconnects cleanly, stops the tick. Bounded: at most about 4 s. */
  stop(): Promise<void>;
  /** Empty retained payloads on the discovery topics and the state topic: Home Assistant forgets the devices. */
  removeDiscovery(): Promise<void>;
}

export function startMqtt(options: StartMqttOptions): MqttHandle {
  const { config, control, version } = options;
  const log = options.log.child({ component: "mqtt" });
  const topics = topicsFor(config);
  const secrets = loadSecrets(config);
  const secretList = secretStrings(secrets);
  const scrub = (text: string) => scrubSecrets(text, secretList);
  const hostname = topicHostname(options.hostname ?? osHostname());
  const session = randomHex(3);
  const clientId = config.clientId ?? `sixgate-${config.nodeId.slice(0, 48)}-${session}`;
  const instance: Instance = { machine: machineFingerprint()?.id ?? null, session };
  const legacyBaseTopic = `sixgate/${topicHostname()}`;
  const tickIntervalSec = options.tickIntervalSec ?? 30;

  const connection = openConnection({
    config,
    secrets,
    clientId,
    topics,
    log,
    scrub,
    backoff: options.reconnect ?? { initialMs: 1000, maxMs: 30000 },
  });
  log.info(
    {
      broker: connection.broker,
      clientId,
      baseTopic: config.baseTopic,
      identity: config.identitySource,
      readOnly: config.readOnly,
    },
    "mqtt connecting",
  );

  const watch = watchPublishers({
    stateTopic: topics.state,
    ours: instance,
    log,
    ...(config.identitySource !== "baseTopic" &&
    config.identitySource !== "nodeId" &&
    legacyBaseTopic !== config.baseTopic
      ? { legacyBaseTopic }
      : {}),
  });
  const state = startStatePublishing({
    connection,
    control,
    probeReports: options.probeReports,
    topic: topics.state,
    version,
    instance,
    now: options.now ?? Date.now,
    log,
    scrub,
  });
  const discoveryOptions = { topics, version, tickIntervalSec, commands: !config.readOnly };
  // The form (shorthand or devices list) follows the config in force, as the agent's status says (ha-discovery.ts).
  const discovery = startDiscovery({
    connection,
    topics,
    payloads: {
      gateway: (form) => JSON.stringify(buildDiscovery({ ...discoveryOptions, hostname, ...form })),
      device: (name) => JSON.stringify(buildDeviceDiscovery(discoveryOptions, name)),
    },
    control,
    state,
    log,
  });
  // On connect, in this order: discovery, availability, state (Home Assistant learns the device, then that it is
  // online, then its state).
  const parts: Part[] = [discovery, startAvailability(connection, topics.availability, log), state];
  // Read-only: no command topic at all, so nothing a broker user publishes can act on the gateway.
  if (!config.readOnly) {
    const commandTimeoutMs = options.commandTimeoutMs ?? 30000;
    parts.push(startResponder({ connection, control, state, topics, commandTimeoutMs, log, scrub }));
  }
  parts.push(watch);
  connection.serve(parts);

  return {
    topics,
    get connected() {
      return connection.client.connected;
    },
    view: () => ({
      connected: connection.client.connected,
      broker: connection.broker,
      baseTopic: config.baseTopic,
      readOnly: config.readOnly,
      lastError: connection.lastError,
      conflict: watch.conflict,
    }),
    stop: () => connection.stop(),
    removeDiscovery: () => discovery.remove(),
  };
}
