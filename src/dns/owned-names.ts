// The names sixgate has put in the DNS zone, kept under stateDir as dns-names.json (`{ "names": ["cam.example.test"] }`).
// A name the configuration no longer has (a hostname renamed or removed at a reload, or while the agent was stopped)
// is deleted from the zone only when it is recorded here or was configured in this run: a record sixgate never
// wrote is never touched.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { writeFileAtomic } from "../effects/atomic-file.js";
import { tryParseJson } from "../util/json.js";

export interface OwnedNames {
  /** The recorded names (FQDNs without the final dot); none when there is no file or it cannot be read. */
  load(): Promise<Set<string>>;
  /** Records exactly these names (whole or not at all); rejects when the file cannot be written. */
  save(names: ReadonlySet<string>): Promise<void>;
}

/** Where the names are kept: stateDir/dns-names.json. */
export const ownedNamesPath = (stateDir: string): string => join(stateDir, "dns-names.json");

export function createOwnedNames(stateDir: string, log: Logger): OwnedNames {
  const file = ownedNamesPath(stateDir);
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(file, "utf8");
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT")
          log.warn({ file, error: String(e) }, "cannot read the DNS names sixgate wrote; none is removed");
        return new Set();
      }
      const parsed = tryParseJson(text);
      const names =
        typeof parsed === "object" && parsed !== null && "names" in parsed && Array.isArray(parsed.names)
          ? parsed.names.filter((n): n is string => typeof n === "string")
          : undefined;
      if (names === undefined) {
        log.warn({ file }, "the record of DNS names sixgate wrote is damaged; none is removed");
        return new Set();
      }
      return new Set(names);
    },
    save(names) {
      const text = `${JSON.stringify({ names: [...names].sort() }, null, 2)}\n`;
      return writeFileAtomic(file, text, { durable: true, parentMode: 0o755 });
    },
  };
}
