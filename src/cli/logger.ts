// pino JSON on stdout; human-readable when stdout is a terminal.
import { pino, type Logger, type LevelWithSilent } from "pino";
import pretty from "pino-pretty";
import { mqttRedactPaths } from "../mqtt/redact.js";

export function createLogger(level: LevelWithSilent = "info"): Logger {
  // Secrets (the MQTT password) never reach the log, whatever object a line happens to carry.
  const options = {
    level,
    base: { name: "sixgate" },
    redact: { paths: [...mqttRedactPaths], censor: "[redacted]" },
  };
  // pino-pretty as a plain stream (no worker thread), so it also works from a single bundled file.
  return process.stdout.isTTY ? pino(options, pretty({ colorize: true, sync: true })) : pino(options);
}
