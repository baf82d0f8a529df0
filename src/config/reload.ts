// What a reload (SIGHUP, MQTT reload-config) does with each top-level field of the config: applied at once, or
// kept at its old value until the next restart. docs/configuration.md ("What a reload applies") says the same.
import { isDeepStrictEqual } from "node:util";
import { crossFieldProblems, type Config } from "./schema.js";

/**
 * Each top-level field's reload behaviour. A field added to the schema without an entry here is a type error, so
 * none can be ignored silently again. "restart": the value is read once at start (the firewall backend, the files'
 * directories, the coalescing timer, the health schedule and prober, the MQTT session).
 */
export const RELOAD_BEHAVIOUR: Record<keyof Config, "applied" | "restart"> = {
  wan: "applied",
  lan: "applied",
  devices: "applied",
  shorthand: "applied",
  leases: "applied",
  allowedTargets: "applied",
  firewall: "restart",
  runtimeDir: "restart",
  stateDir: "restart",
  debounceMs: "restart",
  listener: "applied",
  flapDamping: "applied",
  commandTimeoutMs: "applied",
  logLevel: "applied",
  health: "restart",
  mqtt: "restart",
  dns: "restart",
};

const RESTART_ONLY = (Object.keys(RELOAD_BEHAVIOUR) as (keyof Config)[]).filter(
  (field) => RELOAD_BEHAVIOUR[field] === "restart",
);

/**
 * Fields inside an applied section that are read once at start all the same: the listener backend (the adapter,
 * socat or HAProxy, is built at start). Named by their dotted path.
 */
const RESTART_ONLY_NESTED = ["listener.backend"] as const;

/** The outcome of a reload: the fields whose change waits for a restart (empty when everything was applied). */
export interface ReloadReport {
  /** Top-level field names, and the dotted paths of RESTART_ONLY_NESTED. */
  restartNeeded: string[];
}

/** A reload whose file is valid on its own, but not with the values kept until the next restart: nothing applied. */
export class ReloadRefused extends Error {
  constructor(readonly problems: string[]) {
    super(`reload refused:\n  ${problems.join("\n  ")}`);
    this.name = "ReloadRefused";
  }
}

/**
 * Splits a reloaded config into what is applied now: `config` is `next` with every restart-only field kept at its
 * value in `current` (the old stateDir stays in use), and `restartNeeded` names the restart-only fields that changed.
 * Throws ReloadRefused when the checks that span fields fail on that mix: the file was checked with its own
 * listener.backend (two devices with addresses of their own may share a listen port with socat, not with HAProxy)
 * and dns.gatewayName, not with the ones that stay in use.
 */
export function reloadedConfig(current: Config, next: Config): { config: Config } & ReloadReport {
  const restartNeeded: string[] = RESTART_ONLY.filter(
    (field) => !isDeepStrictEqual(current[field], next[field]),
  );
  const kept = Object.fromEntries(RESTART_ONLY.map((field) => [field, current[field]]));
  if (current.listener.backend !== next.listener.backend) restartNeeded.push(RESTART_ONLY_NESTED[0]);
  // The rest of `listener` is applied; its backend stays the one in use.
  const listener = { ...next.listener, backend: current.listener.backend };
  const config = { ...next, ...kept, listener };
  const problems = restartNeeded.length === 0 ? [] : crossFieldProblems(config);
  if (problems.length > 0)
    throw new ReloadRefused([
      ...problems,
      `(with the values of ${restartNeeded.join(", ")} in use until the next restart)`,
    ]);
  return { config, restartNeeded };
}
