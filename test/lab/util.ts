// Small helpers shared by the lab, its tests, the demo and the benchmarks.
import { execa } from "execa";
import { randomBytes } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";

export interface ExecResult {
  ok: boolean;
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  command: string;
}

export interface RunOptions {
  timeoutMs?: number;
  input?: string;
  /** Do not capture output (for commands that leave a daemon holding the pipes open). */
  ignoreOutput?: boolean;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** Runs one command from an argv array (never a shell), with a timeout; never throws. */
export async function run(argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error("run: empty argv");
  const r = await execa(file, args, {
    reject: false,
    timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    ...(opts.input === undefined ? { stdin: "ignore" as const } : { input: opts.input }),
    ...(opts.ignoreOutput === true ? { stdout: "ignore" as const, stderr: "ignore" as const } : {}),
  });
  return {
    ok: r.exitCode === 0 && !r.timedOut,
    exitCode: r.exitCode,
    stdout: typeof r.stdout === "string" ? r.stdout : "",
    stderr: typeof r.stderr === "string" ? r.stderr : "",
    timedOut: r.timedOut,
    command: argv.join(" "),
  };
}

/** Like run, but throws with the command's stderr when it fails. */
export async function runOk(argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  const r = await run(argv, opts);
  if (!r.ok) {
    const why = r.timedOut ? "timed out" : `exit ${String(r.exitCode)}`;
    throw new Error(`${r.command}: ${why}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  return r;
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Extra context for the timeout error (e.g. the last agent log lines). */
  message?: string | (() => string);
}

type Falsy = false | undefined | null | 0 | "";

/**
 * Polls until the predicate returns a truthy value and returns it.
 * Bounded in time and in attempts; a throwing predicate counts as "not yet".
 */
export async function waitFor<T>(
  predicate: () => T | Falsy | Promise<T | Falsy>,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  const maxAttempts = Math.ceil(timeoutMs / Math.max(intervalMs, 1)) + 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    try {
      const value = await predicate();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) break;
    await delay(intervalMs);
  }
  const extra = typeof opts.message === "function" ? opts.message() : (opts.message ?? "");
  const last = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
  throw new Error(`waitFor: condition not met within ${timeoutMs} ms${last}${extra ? `\n${extra}` : ""}`);
}

export { delay as sleep };

/** Six lowercase alphanumerics: short enough for interface-free namespace names. */
export function randomId(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from(randomBytes(6), (b) => alphabet[b % alphabet.length]).join("");
}

/** True when a process with this pid exists (zombies included). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Sends a signal, ignoring a process that is already gone. */
export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone: nothing to do.
  }
}
