// Operator choices that outlive a restart (proxy enabled, run-time port mappings), kept under stateDir.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { z } from "zod";
import { portsSchema } from "../config/schema.js";
import type { PortMap } from "../core/types.js";
import { tryParseJson } from "../util/json.js";

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
    async save(state) {
      await mkdir(stateDir, { recursive: true, mode: 0o700 });
      const tmp = `${file}.tmp`;
      await writeFile(
        tmp,
        JSON.stringify({ enabled: state.enabled, ports: state.ports ?? null }, null, 2) + "\n",
      );
      await rename(tmp, file);
    },
  };
}
