// pino JSON on stdout; human-readable when stdout is a terminal.
import { pino, type Logger, type LevelWithSilent } from "pino";
import { mqttRedactPaths } from "../mqtt/redact.js";

/** A service's stdout is no terminal: pino-pretty (and its dependencies) is loaded only for one. */
export async function createLogger(level: LevelWithSilent = "info"): Promise<Logger> {
  // Secrets (the MQTT password) never reach the log, whatever object a line happens to carry.
  const options = {
    level,
    base: { name: "sixgate" },
    redact: { paths: [...mqttRedactPaths], censor: "[redacted]" },
  };
  // pino-pretty as a plain stream (no worker thread), so it also works from the bundle.
  if (!process.stdout.isTTY) return pino(options);
  const { default: pretty } = await import("pino-pretty");
  return pino(options, pretty({ colorize: true, sync: true }));
}
