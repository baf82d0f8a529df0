// Operator choices that outlive a restart (proxy enabled, run-time port mappings), kept under stateDir.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import * as z from "zod";
import { refusedTargets } from "../config/allowed-targets.js";
import { portsSchema, type Config } from "../config/schema.js";
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

/**
 * The operator's choices as the agent starts with them, and as `plan` and `doctor` assume them: state.json read by
 * the store, with saved port mappings dropped (logged as an error) when a target is outside the config's
 * allowedTargets (which may have been tightened since they were saved). Never rejects.
 */
export async function loadOperatorChoices(
  config: Config,
  log: Logger,
  store: StateStore = createStateStore(config.stateDir, log),
): Promise<PersistedState> {
  const saved = await store.load();
  const refused = saved.ports === undefined ? undefined : refusedTargets(saved.ports, config);
  if (refused === undefined) return saved;
  log.error(
    { file: join(config.stateDir, "state.json"), error: refused },
    "ignoring the saved port mappings: not allowed by allowedTargets; using the config file's ports",
  );
  return { ...saved, ports: undefined };
}
