// The MQTT session: connect with a last will, publish availability, state and discovery, answer commands, reconnect
// with backoff. Nothing here ever waits on the broker in the agent's path: status changes are coalesced and handed
// to the client on the next turn of the event loop, publishes are fire-and-forget, and while the broker is away
// nothing queues up (everything is republished in full on reconnect).
import { readFileSync } from "node:fs";
import { hostname as osHostname } from "node:os";
import { randomBytes } from "node:crypto";
import { connect, type IClientOptions, type IClientPublishOptions, type MqttClient } from "mqtt";
import type { Logger } from "pino";
import { Subscription, type Observable } from "rxjs";
import type { AgentControl, ProbeReport } from "../control.js";
import { errorText, executeCommand, parseRequest, type CommandResponse } from "./commands.js";
import { topicHostname, type MqttConfig } from "./config.js";
import { buildDiscovery } from "./discovery.js";
import { machineFingerprint } from "./identity.js";
import { watchPublishers, type Instance } from "./publisher-watch.js";
import { scrubSecrets } from "./redact.js";
import { buildState, stateKey, type HealthState, type PublishedStatus } from "./state.js";
import { AVAILABLE, NOT_AVAILABLE, topicsFor, type Topics } from "./topics.js";

export class MqttSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MqttSetupError";
  }
}

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
  /** Empty retained payloads on the discovery and state topics: Home Assistant forgets the device. */
  removeDiscovery(): Promise<void>;
}

/** At most this many commands run at once; more are refused with "busy". */
export const MAX_CONCURRENT_COMMANDS = 4;
const RETAINED: IClientPublishOptions = { qos: 1, retain: true };
const STOP_STEP_MS = 2000;
const BIRTH_INTERVAL_MS = 2000;

interface Secrets {
  password?: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

function readSecretFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new MqttSetupError(`mqtt: cannot read ${what} ${path} (${code})`);
  }
}

/** Reads the password file and TLS files once, at start. Their contents are never logged. */
export function loadSecrets(config: MqttConfig): Secrets {
  const secrets: Secrets = {};
  if (config.password !== undefined) secrets.password = config.password;
  if (config.passwordFile !== undefined) {
    const text = readSecretFile(config.passwordFile, "passwordFile")
      .toString("utf8")
      .replace(/\r?\n$/, "");
    if (text.length === 0) throw new MqttSetupError(`mqtt: passwordFile ${config.passwordFile} is empty`);
    secrets.password = text;
  }
  if (config.tls?.ca !== undefined) secrets.ca = readSecretFile(config.tls.ca, "tls.ca");
  if (config.tls?.cert !== undefined) secrets.cert = readSecretFile(config.tls.cert, "tls.cert");
  if (config.tls?.key !== undefined) secrets.key = readSecretFile(config.tls.key, "tls.key");
  return secrets;
}

/**
 * What must never be published or logged: the password, and the TLS key in whole and line by line (an error that
 * quotes a piece of the PEM must not leak that piece). The CA and the client certificate are public.
 */
export function secretStrings(secrets: Secrets): string[] {
  const out = secrets.password !== undefined ? [secrets.password] : [];
  if (secrets.key !== undefined) {
    const pem = secrets.key.toString("utf8");
    out.push(pem.trim(), ...pem.split(/\r?\n/).filter((l) => l.length >= 16 && !l.startsWith("-----")));
  }
  return out;
}

function clientOptions(
  config: MqttConfig,
  secrets: Secrets,
  clientId: string,
  topics: Topics,
): IClientOptions {
  const options: IClientOptions = {
    clientId,
    clean: true,
    keepalive: config.keepalive,
    // We run our own reconnect loop with backoff; mqtt.js's own retries at a fixed period.
    reconnectPeriod: 0,
    connectTimeout: 10000,
    queueQoSZero: false,
    protocolVersion: 4,
    will: { topic: topics.availability, payload: Buffer.from(NOT_AVAILABLE), qos: 1, retain: true },
    // mqtt-packet's cache of all 65,536 message-id buffers costs about 7 MB of heap for a client that sends a
    // few messages a minute (bench/heap-by-module.ts).
    writeCache: false,
  };
  if (config.username !== undefined) options.username = config.username;
  if (secrets.password !== undefined) options.password = secrets.password;
  if (config.tls !== undefined) {
    options.rejectUnauthorized = config.tls.rejectUnauthorized;
    if (secrets.ca) options.ca = secrets.ca;
    if (secrets.cert) options.cert = secrets.cert;
    if (secrets.key) options.key = secrets.key;
  }
  return options;
}

/** Where we connect, for logs: scheme, host and port only (the schema forbids credentials in the URL anyway). */
function brokerForLog(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return "(invalid url)";
  }
}

/** CONNACK return code 2 of MQTT 3.1.1, "identifier rejected". */
const IDENTIFIER_REJECTED = 2;

/**
 * The broker's refusal, with a hint where its words mislead: Mosquitto (2.0.12 and later) refuses an MQTT 3.1.1
 * client whose keepalive is above its `max_keepalive` with "identifier rejected", which reads like a client id
 * problem.
 */
export function explainMqttError(
  error: Error & { code?: unknown },
  clientId: string,
  keepalive: number,
): string {
  if (error.code !== IDENTIFIER_REJECTED && !/identifier rejected/i.test(error.message)) return error.message;
  return (
    `${error.message}: the broker refused client id "${clientId}", or keepalive (${keepalive} s) is above ` +
    "the broker's max_keepalive; check the broker's client id rules, or lower mqtt.keepalive"
  );
}

function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Publishes the latest payload per topic with at most one unacknowledged message per topic: a burst of state
 * changes costs the publish in flight plus one more, never a queue.
 */
class LatestPublisher {
  private generation = 0;
  private readonly inFlight = new Map<string, number>();
  private readonly pending = new Map<string, { payload: string; options: IClientPublishOptions }>();

  constructor(
    private readonly client: MqttClient,
    private readonly log: Logger,
  ) {}

  publish(topic: string, payload: string, options: IClientPublishOptions): void {
    if (!this.client.connected) return;
    if (this.inFlight.has(topic)) {
      this.pending.set(topic, { payload, options });
      return;
    }
    this.send(topic, payload, options);
  }

  reset(): void {
    this.inFlight.clear();
    this.pending.clear();
  }

  private send(topic: string, payload: string, options: IClientPublishOptions): void {
    const generation = ++this.generation;
    this.inFlight.set(topic, generation);
    this.client.publish(topic, payload, options, (error) => {
      if (this.inFlight.get(topic) !== generation) return;
      this.inFlight.delete(topic);
      if (error) this.log.debug({ topic, error: error.message }, "mqtt publish not acknowledged");
      const next = this.pending.get(topic);
      if (next === undefined) return;
      this.pending.delete(topic);
      if (this.client.connected) this.send(topic, next.payload, next.options);
    });
  }
}

export function startMqtt(options: StartMqttOptions): MqttHandle {
  const { config, control, version } = options;
  const log = options.log.child({ component: "mqtt" });
  const now = options.now ?? Date.now;
  const backoff = options.reconnect ?? { initialMs: 1000, maxMs: 30000 };
  const commandTimeoutMs = options.commandTimeoutMs ?? 30000;
  const topics = topicsFor(config);
  const secrets = loadSecrets(config);
  const secretList = secretStrings(secrets);
  const scrub = (text: string) => scrubSecrets(text, secretList);
  const hostname = topicHostname(options.hostname ?? osHostname());
  const session = randomBytes(3).toString("hex");
  const clientId = config.clientId ?? `sixgate-${config.nodeId.slice(0, 48)}-${session}`;
  const instance: Instance = { machine: machineFingerprint()?.id ?? null, session };
  const legacyBaseTopic = `sixgate/${topicHostname()}`;
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
  const tickIntervalSec = options.tickIntervalSec ?? 30;
  const discoveryPayload = JSON.stringify(
    buildDiscovery({ topics, version, hostname, tickIntervalSec, commands: !config.readOnly }),
  );
  const broker = brokerForLog(config.url);

  const client = connect(config.url, clientOptions(config, secrets, clientId, topics));
  const publisher = new LatestPublisher(client, log);
  const subscriptions = new Subscription();
  let stopping = false;
  let stopped: Promise<void> | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let attempt = 0;
  let everConnected = false;
  let quietErrors = false;
  let lastKey: string | undefined;
  let lastProbe: ProbeReport | null = null;
  let running = 0;
  let pendingStatus: PublishedStatus | undefined;
  let statusScheduled = false;
  let birthTimer: NodeJS.Timeout | undefined;
  let lastBirthAnswer = -Infinity;
  let lastError: string | null = null;

  log.info(
    {
      broker,
      clientId,
      baseTopic: config.baseTopic,
      identity: config.identitySource,
      readOnly: config.readOnly,
    },
    "mqtt connecting",
  );

  const currentState = (status?: PublishedStatus): HealthState => ({
    ...buildState(status ?? control.status(), lastProbe, version, now()),
    instance,
  });

  /** Publishes the state when it differs from the last one sent on this connection, or always when forced. */
  const pushState = (force: boolean, status?: PublishedStatus) => {
    if (!client.connected) return;
    let state: HealthState;
    try {
      state = currentState(status);
    } catch (e) {
      log.warn({ error: String(e) }, "cannot build the state");
      return;
    }
    const key = stateKey(state);
    if (!force && key === lastKey) return;
    lastKey = key;
    publisher.publish(topics.state, scrub(JSON.stringify(state)), RETAINED);
  };

  const publishAll = () => {
    publisher.publish(topics.discovery, discoveryPayload, RETAINED);
    publisher.publish(topics.availability, AVAILABLE, RETAINED);
    pushState(true);
  };

  const respond = (response: CommandResponse) => {
    if (!client.connected) {
      log.debug({ id: response.id }, "not connected; response dropped");
      return;
    }
    let text: string;
    try {
      text = JSON.stringify(response);
    } catch {
      text = JSON.stringify({ id: response.id, ok: false, error: "result could not be encoded as JSON" });
    }
    client.publish(topics.response, scrub(text), { qos: 1, retain: false }, (error) => {
      if (error) log.debug({ error: error.message }, "response not acknowledged");
    });
  };

  const handleRequest = (payload: Buffer) => {
    const parsed = parseRequest(payload);
    if (!parsed.ok) {
      log.info({ id: parsed.response.id, error: parsed.response.error }, "mqtt request refused");
      respond(parsed.response);
      return;
    }
    const { id, command } = parsed;
    if (running >= MAX_CONCURRENT_COMMANDS) {
      respond({ id, ok: false, error: `busy: ${running} commands in progress, try again` });
      return;
    }
    running++;
    log.info({ id, command: command.name }, "mqtt command");
    const work = executeCommand(command, {
      control,
      state: () => currentState(),
      onProbe: (report) => {
        lastProbe = report;
        pushState(true);
      },
    });
    void work.finally(() => running--).catch(() => undefined);
    withTimeout(work, commandTimeoutMs, `${command.name} timed out after ${commandTimeoutMs} ms`).then(
      (result) => respond({ id, ok: true, result }),
      (e: unknown) => {
        const error = scrub(errorText(e));
        log.warn({ id, command: command.name, error }, "mqtt command failed");
        respond({ id, ok: false, error });
      },
    );
  };

  // Home Assistant announces itself once per start; anyone else repeating it gets at most one answer per interval.
  const answerBirth = () => {
    if (birthTimer !== undefined) return;
    const wait = Math.max(0, lastBirthAnswer + BIRTH_INTERVAL_MS - performance.now());
    birthTimer = setTimeout(() => {
      birthTimer = undefined;
      if (stopping) return;
      lastBirthAnswer = performance.now(); // monotonic: a clock step must not hold off the answer
      log.info("Home Assistant is online; republishing discovery and state");
      publisher.publish(topics.discovery, discoveryPayload, RETAINED);
      pushState(true);
    }, wait);
  };

  const scheduleReconnect = () => {
    if (stopping || reconnectTimer !== undefined) return;
    const base = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempt, 20));
    attempt++;
    const delay = Math.round(base / 2 + (Math.random() * base) / 2);
    log.debug({ delayMs: delay, attempt }, "mqtt reconnect scheduled");
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      if (!stopping) client.reconnect();
    }, delay);
  };

  client.on("connect", () => {
    attempt = 0;
    quietErrors = false;
    lastError = null;
    lastKey = undefined;
    publisher.reset();
    log.info({ broker }, everConnected ? "mqtt reconnected" : "mqtt connected");
    everConnected = true;
    // Read-only: no command topic at all, so nothing a broker user publishes can act on the gateway.
    const wanted = [
      ...(config.readOnly ? [] : [topics.request]),
      topics.haStatus,
      topics.availability,
      ...watch.topics,
    ];
    client.subscribe(wanted, { qos: 1 }, (error) => {
      if (error) log.warn({ error: error.message }, "mqtt subscribe failed");
    });
    publishAll();
  });

  client.on("close", () => {
    publisher.reset();
    lastKey = undefined;
    if (stopping) return;
    if (everConnected && attempt === 0) log.warn({ broker }, "mqtt connection lost; reconnecting");
    scheduleReconnect();
  });

  client.on("error", (error) => {
    // The first error after a good spell is worth a warning; the same failure on every retry is not.
    const message = scrub(explainMqttError(error, clientId, config.keepalive));
    lastError = message;
    if (quietErrors) log.debug({ broker, error: message }, "mqtt error");
    else log.warn({ broker, error: message }, "mqtt error");
    quietErrors = true;
  });

  client.on("message", (topic, payload, packet) => {
    if (stopping) return;
    if (topic === topics.request && !config.readOnly) {
      if (packet.retain) {
        log.warn({ topic }, "ignoring a retained request (clear it with an empty retained message)");
        return;
      }
      handleRequest(payload);
    } else if (watch.topics.includes(topic)) {
      watch.onMessage(topic, payload, packet.retain);
    } else if (topic === topics.haStatus) {
      if (payload.toString("utf8").trim() === "online") answerBirth();
    } else if (topic === topics.availability) {
      // A live "offline" while we are connected is a stale last will: an earlier session of ours (before a crash or
      // a reboot) that the broker declares dead only now, up to 1.5 keepalives later. Say online again at once.
      // A retained copy is what was there when we subscribed; our own "online" follows it anyway.
      if (!packet.retain && payload.toString("utf8") === NOT_AVAILABLE) {
        log.warn({ topic }, "an earlier session's last will said offline; publishing online again");
        publisher.publish(topics.availability, AVAILABLE, RETAINED);
      }
    }
  });

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
          if (latest !== undefined && !stopping) pushState(false, latest);
        });
      },
      error: (e: unknown) => log.warn({ error: String(e) }, "status stream failed"),
    }),
  );

  subscriptions.add(
    options.probeReports.subscribe({
      next: (report) => {
        lastProbe = report;
        pushState(true);
      },
      error: (e: unknown) => log.warn({ error: String(e) }, "probe stream failed"),
    }),
  );

  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      clearTimeout(reconnectTimer);
      clearTimeout(birthTimer);
      subscriptions.unsubscribe();
      if (client.connected) {
        try {
          await withTimeout(
            client.publishAsync(topics.availability, NOT_AVAILABLE, RETAINED),
            STOP_STEP_MS,
            "timeout",
          );
        } catch (e) {
          log.warn({ error: String(e) }, "could not publish offline");
        }
        try {
          await withTimeout(client.endAsync(false), STOP_STEP_MS, "timeout");
        } catch {
          client.end(true);
        }
      } else {
        client.end(true);
      }
      log.info("mqtt stopped");
    })();
    return stopped;
  };

  const removeDiscovery = async (): Promise<void> => {
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
  };

  return {
    topics,
    get connected() {
      return client.connected;
    },
    view: () => ({
      connected: client.connected,
      broker,
      baseTopic: config.baseTopic,
      readOnly: config.readOnly,
      lastError,
      conflict: watch.conflict,
    }),
    stop,
    removeDiscovery,
  };
}

/**
 * For `sixgate cleanup`: connects without a last will, clears our retained discovery, state and availability, and
 * disconnects. Rejects when the broker cannot be reached within timeoutMs.
 */
export async function cleanupMqtt(options: {
  config: MqttConfig;
  log: Logger;
  timeoutMs?: number;
}): Promise<void> {
  const { config } = options;
  const log = options.log.child({ component: "mqtt" });
  const timeoutMs = options.timeoutMs ?? 5000;
  const topics = topicsFor(config);
  const secrets = loadSecrets(config);
  const clientOpts = clientOptions(
    config,
    secrets,
    `sixgate-cleanup-${randomBytes(3).toString("hex")}`,
    topics,
  );
  delete clientOpts.will;
  clientOpts.connectTimeout = timeoutMs;
  const client = connect(config.url, clientOpts);
  client.on("error", (e) =>
    log.debug({ error: scrubSecrets(e.message, secretStrings(secrets)) }, "mqtt error"),
  );
  try {
    await withTimeout(
      new Promise<void>((resolve) => client.once("connect", () => resolve())),
      timeoutMs,
      `cannot reach the broker at ${brokerForLog(config.url)}`,
    );
    await withTimeout(
      Promise.all(
        [topics.discovery, topics.state, topics.availability].map((t) =>
          client.publishAsync(t, "", RETAINED),
        ),
      ),
      timeoutMs,
      "broker did not acknowledge the removal",
    );
    log.info({ discovery: topics.discovery, baseTopic: config.baseTopic }, "removed retained MQTT topics");
    await withTimeout(client.endAsync(false), timeoutMs, "disconnect timed out").catch(() =>
      client.end(true),
    );
  } finally {
    client.end(true);
  }
}
