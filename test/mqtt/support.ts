// Shared pieces of the MQTT tests: a logger that keeps its lines, and a config for a test broker.
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";
import {
  mqttConfigSchema,
  mqttRedactPaths,
  type MqttConfig,
  type MqttConfigInput,
} from "../../src/mqtt/index.js";
import { USERNAME, PASSWORD, type Broker } from "./broker.js";

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
