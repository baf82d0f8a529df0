// Operator choices that outlive a restart (proxy enabled, run-time port mappings), kept under stateDir.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { z } from "zod";
import { portsSchema } from "../config/schema.js";
import type { PortMap } from "../core/types.js";
import { tryParseJson } from "../util/json.js";
import { writeFileAtomic } from "./atomic-file.js";

export interface PersistedState {
  enabled: boolean;
  ports: PortMap[] | undefined;
}

const fileSchema = z.object({
  enabled: z.boolean().default(true),
  ports: portsSchema.nullable().default(null),
});

export interface StateStore {
  load(): Promise<PersistedState>;
  /** Replaces the file whole; saves take effect in call order, so the last call's state is what stays. */
  save(state: PersistedState): Promise<void>;
}

export function createStateStore(stateDir: string, log: Logger): StateStore {
  const file = join(stateDir, "state.json");
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(file, "utf8");
      } catch {
        return { enabled: true, ports: undefined };
      }
      const parsed = fileSchema.safeParse(tryParseJson(text));
      if (!parsed.success) {
        // A damaged file must not stop the proxy: fall back to the config file and say so.
        log.error({ file }, "ignoring an invalid state file; using the config file's settings");
        return { enabled: true, ports: undefined };
      }
      return { enabled: parsed.data.enabled, ports: parsed.data.ports ?? undefined };
    },
    save(state) {
      // Durable: routers lose power. Serialised, each with a temporary name of its own: two saves never share a file.
      return writeFileAtomic(
        file,
        JSON.stringify({ enabled: state.enabled, ports: state.ports ?? null }, null, 2) + "\n",
        { durable: true, parentMode: 0o700 },
      );
    },
  };
}
