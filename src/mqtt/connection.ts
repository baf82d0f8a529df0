// The connection part: one mqtt.js client with a last will, our own reconnect loop with backoff, refusal hints,
// and the parts (availability, state, commands, discovery, publisher watch) it serves. A part names the topics it
// wants, publishes what it owns in full on every connect, and stops on its own; the connection subscribes for it,
// routes its messages and calls it in order. A feature is a new part, not more state here.
import { isIP } from "node:net";
import type { ConnectionOptions as TlsOptions } from "node:tls";
import type { IClientOptions, MqttClient, StreamBuilder } from "mqtt";
// The client and the TCP stream builder, not the package's index: its connect() loads every transport
// (websockets, SOCKS, the browser's), about 40 % of the package's code, for URLs the config refuses.
import clientModule from "mqtt/lib/client";
import tcpModule from "mqtt/lib/connect/tcp";
import type { Logger } from "pino";
import type { MqttConfig } from "./config.js";
import { LatestPublisher } from "./latest-publisher.js";
import type { Secrets } from "./secrets.js";
import { NOT_AVAILABLE, type Topics } from "./topics.js";

/** One piece of the MQTT session. Every member is optional but `topics`. */
export interface Part {
  /** Topics to subscribe to on every connect; messages on them reach onMessage. */
  readonly topics: readonly string[];
  /** After each connect (and the subscribe request): publish everything this part owns, in full. */
  onConnect?(): void;
  /** After the connection closed, before any reconnect. */
  onClose?(): void;
  /** A message on one of `topics`; never called once the session stops. */
  onMessage?(topic: string, payload: Buffer, retained: boolean): void;
  /** Ends timers and subscriptions; may publish a last word while still connected. Bounded in time. */
  stop?(): void | Promise<void>;
}

export interface ConnectionOptions {
  config: MqttConfig;
  secrets: Secrets;
  clientId: string;
  topics: Topics;
  log: Logger;
  /** Removes secrets from text that is logged or shown (error messages). */
  scrub: (text: string) => string;
  /** Reconnect backoff (doubling, with jitter). */
  backoff: { initialMs: number; maxMs: number };
}

export interface Connection {
  readonly client: MqttClient;
  readonly publisher: LatestPublisher;
  /** Scheme, host and port, for logs and status. */
  readonly broker: string;
  /** Why the last connection attempt failed, with what to check; null once connected. */
  readonly lastError: string | null;
  /** True once stop() began: parts publish nothing new. */
  readonly stopping: boolean;
  /** Starts serving these parts (in this order on connect, in reverse on stop). Call once, right after opening. */
  serve(parts: readonly Part[]): void;
  /** Stops every part, last first, then disconnects cleanly (forcibly after STOP_STEP_MS). */
  stop(): Promise<void>;
}

/** How long each step of a clean stop (a last publish, the disconnect) may take. */
export const STOP_STEP_MS = 2000;

export function clientOptions(
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

/**
 * mqtt's TLS stream builder (lib/connect/tls.js) for the options clientOptions() sets, with node:tls loaded on
 * first use: the package's builder imports it with the module, and node:tls brings node:crypto, about 4 MiB of RSS
 * on Node 24 (bench/idle-memory.ts) that a broker over mqtt:// does not need. What it does is the package's: port
 * 8883 by default, the host name as SNI server name (not an IP address), and a certificate the CA does not vouch
 * for is an error for the client unless rejectUnauthorized is false.
 */
const tlsStream: StreamBuilder = (client, opts = {}) => {
  const { connect } = process.getBuiltinModule("node:tls");
  opts.port = opts.port || 8883;
  opts.host = opts.hostname || opts.host || "localhost";
  if (isIP(opts.host) === 0 && !opts.servername) opts.servername = opts.host;
  opts.rejectUnauthorized = opts.rejectUnauthorized !== false;
  delete opts.path;
  const tlsOptions: TlsOptions = {
    host: opts.host,
    port: opts.port,
    rejectUnauthorized: opts.rejectUnauthorized,
    ...(opts.servername === undefined ? {} : { servername: opts.servername }),
    ...(opts.ca === undefined ? {} : { ca: opts.ca }),
    ...(opts.cert === undefined ? {} : { cert: opts.cert }),
    ...(opts.key === undefined ? {} : { key: opts.key }),
  };
  const connection = connect(tlsOptions);
  const handleTlsErrors = (error: Error) => {
    if (opts.rejectUnauthorized) client.emit("error", error);
    connection.end();
  };
  connection.on("secureConnect", () => {
    if (opts.rejectUnauthorized && !connection.authorized)
      connection.emit("error", new Error("TLS not authorized"));
    else connection.removeListener("error", handleTlsErrors);
  });
  connection.on("error", handleTlsErrors);
  return connection;
};

/**
 * A client for an mqtt:// or mqtts:// URL (the only ones the config takes), as mqtt's connect() would make it for
 * that URL and these options, from the same parts: MqttClient with the TCP or TLS stream builder, given the host
 * without an IPv6 address's brackets and the port (the builder's default when the URL has none).
 */
export function connectClient(url: string, options: IClientOptions): MqttClient {
  const parsed = new URL(url);
  const protocol = parsed.protocol === "mqtts:" ? "mqtts" : "mqtt";
  const opts: IClientOptions = {
    ...options,
    protocol,
    host: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    ...(parsed.port === "" ? {} : { port: Number(parsed.port) }),
  };
  const build = protocol === "mqtts" ? tlsStream : tcpModule.default;
  // connect() hands its builder the options object the client holds: the builder fills in port and host there.
  const client = new clientModule.default((c) => build(c, opts), opts);
  // As connect() does: an error nobody listens to must not throw.
  client.on("error", () => undefined);
  return client;
}

/** Where we connect, for logs: scheme, host and port only (the schema forbids credentials in the URL anyway). */
export function brokerForLog(url: string): string {
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

/** Rejects with `message` when `work` takes longer than `ms`. */
export function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Connects (asynchronously: call serve() at once) and keeps reconnecting until stop(). */
export function openConnection(options: ConnectionOptions): Connection {
  const { config, clientId, log, scrub, backoff } = options;
  const broker = brokerForLog(config.url);
  const client = connectClient(config.url, clientOptions(config, options.secrets, clientId, options.topics));
  const publisher = new LatestPublisher(client, log);
  let parts: readonly Part[] = [];
  let stopping = false;
  let stopped: Promise<void> | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let attempt = 0;
  let everConnected = false;
  let quietErrors = false;
  let lastError: string | null = null;

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
    publisher.reset();
    log.info({ broker }, everConnected ? "mqtt reconnected" : "mqtt connected");
    everConnected = true;
    client.subscribe(
      parts.flatMap((p) => p.topics),
      { qos: 1 },
      (error) => {
        if (error) log.warn({ error: error.message }, "mqtt subscribe failed");
      },
    );
    for (const part of parts) part.onConnect?.();
  });

  client.on("close", () => {
    publisher.reset();
    for (const part of parts) part.onClose?.();
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
    for (const part of parts) {
      if (part.topics.includes(topic)) part.onMessage?.(topic, payload, packet.retain);
    }
  });

  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      clearTimeout(reconnectTimer);
      for (const part of [...parts].reverse()) await part.stop?.();
      if (client.connected) {
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

  return {
    client,
    publisher,
    broker,
    get lastError() {
      return lastError;
    },
    get stopping() {
      return stopping;
    },
    serve(served) {
      parts = served;
    },
    stop,
  };
}
