// Operator choices that outlive a restart (each device enabled or not, its run-time port mappings), kept under
// stateDir as state.json: `{ "devices": { "<name>": { "enabled": true, "ports": [...] | null } } }`. The 0.1 file,
// `{ "enabled": ..., "ports": ... }`, is read as the choices of a one-device configuration.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import * as z from "zod";
import { refusedTargets } from "../config/allowed-targets.js";
import { portsSchema, runtimePortProblems, type Config } from "../config/schema.js";
import type { DeviceChoices, OperatorChoices } from "../core/types.js";
import { tryParseJson } from "../util/json.js";
import { writeFileAtomic } from "./atomic-file.js";

export type PersistedState = OperatorChoices;

const choicesSchema = z.object({
  enabled: z.boolean().default(true),
  ports: portsSchema.nullable().default(null),
});

/** The 0.1 file's one device: its choices belong to whichever device a one-device config names. */
const LEGACY = Symbol("0.1 state file");

// The 0.1 form is strict: a damaged new file must not read as an old one.
const fileSchema = z.union([
  z.object({ devices: z.record(z.string(), choicesSchema) }),
  z
    .strictObject({ enabled: choicesSchema.shape.enabled, ports: choicesSchema.shape.ports })
    .transform((c) => ({ [LEGACY]: c })),
]);

type SavedChoices = z.output<typeof choicesSchema>;

const toChoices = (c: SavedChoices): DeviceChoices => ({ enabled: c.enabled, ports: c.ports ?? undefined });

/** What the file held: choices by device name, and those of a 0.1 file (no device name) apart. */
export interface StoredChoices {
  devices: OperatorChoices;
  legacy: DeviceChoices | undefined;
}

export interface StateStore {
  load(): Promise<StoredChoices>;
  /** Replaces the file whole; saves take effect in call order, so the last call's state is what stays. */
  save(state: PersistedState): Promise<void>;
}

export function createStateStore(stateDir: string, log: Logger): StateStore {
  const file = join(stateDir, "state.json");
  const none: StoredChoices = { devices: {}, legacy: undefined };
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(file, "utf8");
      } catch {
        return none;
      }
      const parsed = fileSchema.safeParse(tryParseJson(text));
      if (!parsed.success) {
        // A damaged file must not stop the proxy: fall back to the config file and say so.
        log.error({ file }, "ignoring an invalid state file; using the config file's settings");
        return none;
      }
      const data = parsed.data;
      if (LEGACY in data) return { devices: {}, legacy: toChoices(data[LEGACY]) };
      const devices = Object.fromEntries(
        Object.entries(data.devices).map(([name, c]) => [name, toChoices(c)]),
      );
      return { devices, legacy: undefined };
    },
    save(state) {
      const devices = Object.fromEntries(
        Object.entries(state).map(([name, c]) => [name, { enabled: c.enabled, ports: c.ports ?? null }]),
      );
      // Durable: routers lose power. Serialised, each with a temporary name of its own: two saves never share a file.
      return writeFileAtomic(file, JSON.stringify({ devices }, null, 2) + "\n", {
        durable: true,
        parentMode: 0o700,
      });
    },
  };
}

/**
 * The operator's choices as the agent starts with them, and as `plan` and `doctor` assume them: state.json read by
 * the store (a 0.1 file's choices given to the one device of a one-device config), only for configured devices, with
 * saved port mappings dropped (logged as an error) when a target is outside the config's allowedTargets (which may
 * have been tightened since they were saved). Never rejects.
 */
export async function loadOperatorChoices(
  config: Config,
  log: Logger,
  store: StateStore = createStateStore(config.stateDir, log),
): Promise<PersistedState> {
  const saved = await store.load();
  const only = config.devices.length === 1 ? config.devices[0] : undefined;
  const byName: OperatorChoices =
    saved.legacy !== undefined && only !== undefined ? { [only.name]: saved.legacy } : saved.devices;
  const result: OperatorChoices = {};
  for (const device of config.devices) {
    const choices = byName[device.name];
    if (choices === undefined) continue;
    const refused = choices.ports === undefined ? undefined : refusedTargets(choices.ports, config, device);
    if (refused !== undefined)
      log.error(
        { file: join(config.stateDir, "state.json"), device: device.name, error: refused },
        "ignoring the saved port mappings: not allowed by allowedTargets; using the config file's ports",
      );
    result[device.name] = refused === undefined ? choices : { ...choices, ports: undefined };
  }
  // A listen port the file has given another device since the mapping was saved: both cannot bind it. In the file's
  // order, each device's saved mappings are kept only when they fit beside those kept before them.
  const kept: OperatorChoices = {};
  for (const device of config.devices) {
    const choices = result[device.name];
    if (choices === undefined) continue;
    const taken =
      choices.ports === undefined ? [] : runtimePortProblems(config, { ...kept, [device.name]: choices });
    if (taken.length > 0)
      log.error(
        { file: join(config.stateDir, "state.json"), device: device.name, error: taken.join("; ") },
        "ignoring the saved port mappings: they take another device's listen port; using the config file's ports",
      );
    kept[device.name] = taken.length === 0 ? choices : { ...choices, ports: undefined };
  }
  return kept;
}
