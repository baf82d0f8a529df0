// The one way sixgate runs external commands: argv arrays, never a shell, a timeout, argv and exit code at debug.
import { spawn } from "node:child_process";
import type { Logger } from "pino";

export interface RunResult {
  /** The command's exit code; as a shell reports them, 124 when it timed out and 127 when it was not found. */
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin (nft -f -, iptables-restore). */
  input?: string;
  timeoutMs?: number;
}

export interface SpawnOptions {
  /** Called with each line the process writes to stdout. */
  onStdoutLine?: (line: string) => void;
  /** Called with each line the process writes to stderr. */
  onStderrLine?: (line: string) => void;
  /**
   * Start it as the leader of its own process group, and signal the whole group: a forking server (socat's
   * per-connection children) is then stopped with everything it forked.
   */
  group?: boolean;
}

/** A long-running child started through the runner. */
export interface Spawned {
  pid: number | undefined;
  /**
   * Resolves with the exit code (or the signal's name) when the process ends; with neither but an `error` when it
   * could not be started at all ("socat: not found on PATH").
   */
  exited: Promise<{ exitCode: number | undefined; signal: string | undefined; error?: string }>;
  kill(signal?: NodeJS.Signals): void;
}

export interface Runner {
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult>;
  spawn(argv: readonly string[], options?: SpawnOptions): Spawned;
}

export class CommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: RunResult,
  ) {
    const detail = result.stderr.trim().split("\n").slice(0, 3).join(" | ") || `exit code ${result.exitCode}`;
    super(`${argv[0] ?? "command"} failed: ${detail}`);
    this.name = "CommandError";
  }
}

/** Runs a command and throws a CommandError unless it exits 0. */
export async function runChecked(
  runner: Runner,
  argv: readonly string[],
  options?: RunOptions,
): Promise<RunResult> {
  const result = await runner.run(argv, options);
  if (result.exitCode !== 0) throw new CommandError(argv, result);
  return result;
}

function splitLines(onLine: (line: string) => void): (chunk: Buffer) => void {
  let rest = "";
  return (chunk) => {
    const text = rest + chunk.toString("utf8");
    const lines = text.split("\n");
    rest = lines.pop() ?? "";
    // An endless line from a child must not grow memory without bound.
    if (rest.length > 65536) rest = "";
    for (const line of lines) if (line.length > 0) onLine(line);
  };
}

/** Signals a process group by its leader's pid; a group that is already gone is not an error. */
export function signalGroup(leader: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-leader, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ESRCH") throw e;
  }
}

/** Stops a spawned child: `signal`, then SIGKILL when it is still there after graceMs; resolves once it exited. */
export async function stopSpawned(
  child: Spawned,
  graceMs: number,
  signal: NodeJS.Signals = "SIGTERM",
): Promise<void> {
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const gone = await Promise.race([
    child.exited.then(() => true),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
  ]);
  clearTimeout(timer);
  if (!gone) {
    child.kill("SIGKILL");
    await child.exited;
  }
}

/** How long a timed-out command is given after SIGTERM before SIGKILL. */
const KILL_GRACE_MS = 2000;

/**
 * The real runner, on node:child_process's spawn (execa did this before: 3.6 MB more idle RSS on Node 24 for what
 * these forty lines do; bench/idle-memory.ts, docs/operations.md). `defaultTimeoutMs` (for a run() given no
 * timeoutMs) may be a function, read at each command, so a reloaded commandTimeoutMs applies from the next command
 * on. Every command gets LC_ALL=C, so the messages the agent reads and reports are the tools' English ones.
 */
export function createRunner(log: Logger, defaultTimeoutMs: number | (() => number) = 10000): Runner {
  const env = () => ({ ...process.env, LC_ALL: "C" });
  return {
    async run(argv, options = {}) {
      const [file, ...args] = argv;
      if (file === undefined) throw new Error("empty argv");
      const timeoutMs =
        options.timeoutMs ?? (typeof defaultTimeoutMs === "number" ? defaultTimeoutMs : defaultTimeoutMs());
      const started = performance.now();
      const child = spawn(file, args, {
        stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
        env: env(),
        shell: false,
      });
      let stdout = "";
      let stderr = "";
      child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
      child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
      // A command that exits without reading all of its input (EPIPE) reports that through its exit code.
      child.stdin?.on("error", () => undefined);
      child.stdin?.end(options.input);
      let timedOut = false as boolean; // set by the timer below
      let killTimer: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGTERM");
        killTimer = setTimeout(() => child.kill("SIGKILL"), KILL_GRACE_MS);
      }, timeoutMs);
      const exitCode = await new Promise<number>((resolve) => {
        child.on("error", (e: NodeJS.ErrnoException) => {
          if (child.pid !== undefined) return; // a failed kill(): the command still ends with "close"
          stderr += `\n${e.code === "ENOENT" ? `${file}: not found on PATH` : e.message}`;
          resolve(e.code === "ENOENT" ? 127 : 125);
        });
        // After all output is read ("close"); a timed-out command's output may stay open in a child it forked.
        child.on("close", (code) => resolve(timedOut ? 124 : (code ?? 125)));
        child.on("exit", () => timedOut && resolve(124));
      });
      clearTimeout(timer);
      clearTimeout(killTimer);
      if (timedOut) stderr += `\ntimed out after ${timeoutMs} ms`;
      log.debug({ argv, exitCode, ms: Math.round(performance.now() - started) }, "command");
      return { exitCode, stdout, stderr };
    },

    spawn(argv, options = {}) {
      const [file, ...args] = argv;
      if (file === undefined) throw new Error("empty argv");
      const child = spawn(file, args, {
        stdio: ["ignore", options.onStdoutLine ? "pipe" : "ignore", options.onStderrLine ? "pipe" : "ignore"],
        detached: options.group === true,
        env: env(),
        shell: false,
      });
      if (options.onStdoutLine) child.stdout?.on("data", splitLines(options.onStdoutLine));
      if (options.onStderrLine) child.stderr?.on("data", splitLines(options.onStderrLine));
      log.debug({ argv, pid: child.pid }, "spawned");
      const exited = new Promise<{
        exitCode: number | undefined;
        signal: string | undefined;
        error?: string;
      }>((resolve) => {
        child.on("error", (e: NodeJS.ErrnoException) => {
          // Only a failure to start ends the child's story here; a failed kill() of a running one does not.
          if (child.pid !== undefined) return;
          const error = e.code === "ENOENT" ? `${file}: not found on PATH` : e.message;
          log.debug({ argv, error }, "not started");
          resolve({ exitCode: undefined, signal: undefined, error });
        });
        // After its output is read to the end, so a line written just before exiting is never missed.
        child.on("close", (code, signal) => {
          log.debug({ argv, pid: child.pid, exitCode: code, signal }, "exited");
          resolve({ exitCode: code ?? undefined, signal: signal ?? undefined });
        });
      });
      return {
        pid: child.pid,
        exited,
        kill: (signal: NodeJS.Signals = "SIGTERM") => {
          if (options.group === true && child.pid !== undefined) signalGroup(child.pid, signal);
          else child.kill(signal);
        },
      };
    },
  };
}
