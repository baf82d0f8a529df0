// The broker password and TLS files: read once at start, never logged, scrubbed from everything published.
import { readFileSync } from "node:fs";
import type { MqttConfig } from "./config.js";

export class MqttSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MqttSetupError";
  }
}

export interface Secrets {
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
