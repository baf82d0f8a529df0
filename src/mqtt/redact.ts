// Secrets never reach the logs: pino redaction paths for the logger, and a scrubber for free text.

/**
 * Paths for pino's `redact` option. They cover the password wherever a config object or an MQTT option object may
 * be logged: at the top, under `mqtt`, under `config.mqtt`, and one or two levels down.
 */
export const mqttRedactPaths: readonly string[] = [
  "password",
  "*.password",
  "*.*.password",
  "mqtt.password",
  "config.mqtt.password",
  "*.mqtt.password",
  "options.password",
];

export const REDACTED = "[redacted]";

/** Replaces every occurrence of each secret in the text. Secrets shorter than 4 characters are left alone. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < 4) continue;
    out = out.split(secret).join(REDACTED);
  }
  return out;
}
