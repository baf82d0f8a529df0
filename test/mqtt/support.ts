// Shared pieces of the MQTT tests: a logger that keeps its lines, and a config for a test broker.
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { after, before } from "node:test";
import { pino, type Logger } from "pino";
import { Subject } from "rxjs";
import {
  mqttConfigSchema,
  mqttRedactPaths,
  startMqtt,
  type MqttConfig,
  type MqttConfigInput,
  type MqttHandle,
} from "../../src/mqtt/index.js";
import { USERNAME, PASSWORD, startBroker, type Broker } from "./broker.js";
import { FakeControl } from "../fakes/control.js";
import { Observer } from "./observer.js";

export interface MemoryLog {
  log: Logger;
  lines: string[];
  text(): string;
}

/** A pino logger (with sixgate's redaction paths) that writes into memory; set SIXGATE_TEST_LOG=1 to echo. */
export function memoryLogger(): MemoryLog {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      const text = chunk.toString("utf8");
      lines.push(text);
      if (process.env.SIXGATE_TEST_LOG === "1") process.stderr.write(text);
      callback();
    },
  });
  const log = pino({ level: "trace", redact: { paths: [...mqttRedactPaths], censor: "[redacted]" } }, stream);
  return { log, lines, text: () => lines.join("") };
}

/** A unique base topic per test, so retained messages of one test never satisfy another's wait. */
export function uniqueBase(): string {
  return `sixgate/t-${randomBytes(4).toString("hex")}`;
}

export function testConfig(broker: Broker, overrides: Partial<MqttConfigInput> = {}): MqttConfig {
  return mqttConfigSchema.parse({
    url: broker.url,
    username: USERNAME,
    password: PASSWORD,
    baseTopic: uniqueBase(),
    keepalive: 5,
    ...overrides,
  });
}

export const FAST_RECONNECT = { initialMs: 100, maxMs: 400 };

/** The agent's MQTT session as the reconnect and identity tests need it: no probe reports, fast reconnects. */
export function startTestSession(config: MqttConfig, log: Logger, control = new FakeControl()): MqttHandle {
  return startMqtt({
    config,
    control,
    log,
    version: "1",
    probeReports: new Subject(),
    reconnect: FAST_RECONNECT,
  });
}

/** One test file's broker and what its tests leave behind: observers, sessions, anything with an async close. */
export interface BrokerFixture {
  readonly broker: Broker;
  /** Resolves with the broker once it runs: for the file's own before() hooks, which may run alongside. */
  ready: () => Promise<Broker>;
  /** Runs at the end of the file, newest first; failures there are ignored. */
  defer: (cleanup: () => Promise<unknown>) => void;
  /** An observer subscribed to the topics, closed at the end. */
  observe: (topics: string[]) => Promise<Observer>;
  /** A session stopped at the end. */
  track: (handle: MqttHandle) => MqttHandle;
}

/** Call at the top level of a test file: a broker started before its tests and destroyed after them. */
export function useBroker(): BrokerFixture {
  let broker: Broker | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  let started: (b: Broker) => void = () => undefined;
  const ready = new Promise<Broker>((resolve) => (started = resolve));
  before(async () => {
    broker = await startBroker();
    started(broker);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await broker?.destroy();
  });
  const fixture: BrokerFixture = {
    get broker() {
      if (broker === undefined) throw new Error("the broker starts in before()");
      return broker;
    },
    ready: () => ready,
    defer: (cleanup) => cleanups.push(cleanup),
    observe: async (topics) => {
      const observer = await Observer.connect(fixture.broker.url, topics);
      cleanups.push(() => observer.close());
      return observer;
    },
    track: (handle) => {
      cleanups.push(() => handle.stop());
      return handle;
    },
  };
  return fixture;
}
