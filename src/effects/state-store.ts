// Operator choices that outlive a restart (proxy enabled, run-time port mappings), kept under stateDir.
import { mkdir, open, readFile, rename } from "node:fs/promises";
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
      // Routers lose power: the data reaches the disk before the rename, and the rename before we report success,
      // so after a power cut the file is the old one or the new one, never an empty one.
      const handle = await open(tmp, "w", 0o644);
      try {
        await handle.writeFile(
          JSON.stringify({ enabled: state.enabled, ports: state.ports ?? null }, null, 2) + "\n",
        );
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, file);
      const dir = await open(stateDir, "r");
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    },
  };
}
