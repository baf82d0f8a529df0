// Reads and validates the config file. Errors carry every problem found, each naming its field.
import { readFile } from "node:fs/promises";
import { parse, parseDocument } from "yaml";
import { readTsigKey } from "../dns/key.js";
import { configSchema, formatIssues, type Config } from "./schema.js";

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid config ${file}:\n  ${problems.join("\n  ")}`);
    this.name = "ConfigError";
  }
}

/** The exit code for a bad config (EX_CONFIG), which systemd is told not to restart. */
export const EXIT_CONFIG = 78;

const MAX_CONFIG_BYTES = 256 * 1024;

const firstLine = (message: string) => message.split("\n")[0] ?? "";

export function parseConfig(text: string, file: string): Config {
  let raw: unknown;
  try {
    // YAML is a superset of JSON, so one parser reads both. A warning (an unknown tag or directive) is a mistake in
    // the file too: it is refused here rather than printed as a process warning while the value is read as text.
    const doc = parseDocument(text);
    const [error] = doc.errors;
    if (error !== undefined) throw error;
    if (doc.warnings.length > 0) {
      throw new ConfigError(
        file,
        doc.warnings.map((w) => `(file): not valid YAML or JSON: ${firstLine(w.message)}`),
      );
    }
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(file, [`(file): not valid YAML or JSON: ${firstLine((e as Error).message)}`]);
  }
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) throw new ConfigError(file, formatIssues(result.error));
  return result.data;
}

export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new ConfigError(file, [`(file): cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`]);
  }
  if (text.length > MAX_CONFIG_BYTES)
    throw new ConfigError(file, [`(file): larger than ${MAX_CONFIG_BYTES} bytes`]);
  const config = parseConfig(text, file);
  // The key file is part of the config: a missing or malformed one is refused here, naming the field.
  if (config.dns !== undefined)
    await readTsigKey(config.dns.keyFile).catch((e: unknown) => {
      throw new ConfigError(file, [`dns.keyFile: ${(e as Error).message}`]);
    });
  return config;
}

/**
 * The `runtimeDir` a config file names, read without checking the rest: where `status` and `notify` find the agent
 * when the file has become invalid since the agent loaded it. undefined when the file cannot be read or parsed, or
 * names no absolute runtimeDir.
 */
export async function runtimeDirAsWritten(file: string): Promise<string | undefined> {
  try {
    const text = await readFile(file, "utf8");
    if (text.length > MAX_CONFIG_BYTES) return undefined;
    const raw: unknown = parse(text, { maxAliasCount: 100 });
    const dir = raw !== null && typeof raw === "object" && "runtimeDir" in raw ? raw.runtimeDir : undefined;
    return typeof dir === "string" && dir.startsWith("/") && !dir.includes("\0") ? dir : undefined;
  } catch {
    return undefined;
  }
}
