// `sixgate cleanup`'s MQTT step: clear every retained message of ours without starting a session.
import type { Logger } from "pino";
import type { MqttConfig } from "./config.js";
import { brokerForLog, clientOptions, connectClient, withTimeout } from "./connection.js";
import { RETAINED } from "./latest-publisher.js";
import { scrubSecrets } from "./redact.js";
import { randomHex } from "./sha256.js";
import { loadSecrets, secretStrings } from "./secrets.js";
import { subDeviceTopic, topicsFor } from "./topics.js";

/**
 * Connects without a last will, clears our retained discovery (the gateway's and, with `devices`, each LAN
 * device's), state and availability, and disconnects. Rejects when the broker cannot be reached within timeoutMs
 * (default 5 s).
 */
export async function cleanupMqtt(options: {
  config: MqttConfig;
  log: Logger;
  /** The names of a `devices:` list (each is its own Home Assistant device); none for the shorthand. */
  devices?: readonly string[];
  timeoutMs?: number;
}): Promise<void> {
  const { config } = options;
  const log = options.log.child({ component: "mqtt" });
  const timeoutMs = options.timeoutMs ?? 5000;
  const topics = topicsFor(config);
  const secrets = loadSecrets(config);
  const clientOpts = clientOptions(config, secrets, `sixgate-cleanup-${randomHex(3)}`, topics);
  delete clientOpts.will;
  clientOpts.connectTimeout = timeoutMs;
  const client = connectClient(config.url, clientOpts);
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
        [
          topics.discovery,
          ...(options.devices ?? []).map((name) => subDeviceTopic(topics, name)),
          topics.state,
          topics.availability,
        ].map((t) => client.publishAsync(t, "", RETAINED)),
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
