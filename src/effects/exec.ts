// The one way sixgate runs external commands: argv arrays, never a shell, a timeout, argv and exit code at debug.
import { execa, type ResultPromise } from "execa";
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

/**
 * The real runner. `defaultTimeoutMs` (for a run() given no timeoutMs) may be a function, read at each command, so a
 * reloaded commandTimeoutMs applies from the next command on.
 */
export function createRunner(log: Logger, defaultTimeoutMs: number | (() => number) = 10000): Runner {
  return {
    async run(argv, options = {}) {
      const [file, ...args] = argv;
      if (file === undefined) throw new Error("empty argv");
      const timeoutMs =
        options.timeoutMs ?? (typeof defaultTimeoutMs === "number" ? defaultTimeoutMs : defaultTimeoutMs());
      const started = performance.now();
      const result = await execa(file, args, {
        input: options.input,
        stdin: options.input === undefined ? "ignore" : "pipe",
        timeout: timeoutMs,
        reject: false,
        shell: false,
        stripFinalNewline: false,
        env: { LC_ALL: "C" },
        extendEnv: true,
      });
      const exitCode = result.exitCode ?? (result.timedOut ? 124 : result.code === "ENOENT" ? 127 : 125);
      const out: RunResult = { exitCode, stdout: result.stdout, stderr: result.stderr };
      if (result.timedOut) out.stderr += `\ntimed out after ${timeoutMs} ms`;
      else if (result.failed && result.exitCode === undefined) out.stderr += `\n${result.shortMessage}`;
      log.debug({ argv, exitCode, ms: Math.round(performance.now() - started) }, "command");
      return out;
    },

    spawn(argv, options = {}) {
      const [file, ...args] = argv;
      if (file === undefined) throw new Error("empty argv");
      const child: ResultPromise = execa(file, args, {
        stdin: "ignore",
        stdout: options.onStdoutLine ? "pipe" : "ignore",
        stderr: options.onStderrLine ? "pipe" : "ignore",
        reject: false,
        shell: false,
        buffer: false,
        cleanup: false,
        detached: options.group === true,
        env: { LC_ALL: "C" },
      });
      if (options.onStdoutLine) child.stdout?.on("data", splitLines(options.onStdoutLine));
      if (options.onStderrLine) child.stderr?.on("data", splitLines(options.onStderrLine));
      log.debug({ argv, pid: child.pid }, "spawned");
      const exited = child.then((r) => {
        const exitCode = r.exitCode;
        const signal = r.signal;
        log.debug({ argv, pid: child.pid, exitCode, signal }, "exited");
        if (exitCode !== undefined || signal !== undefined || !r.failed) return { exitCode, signal };
        return {
          exitCode,
          signal,
          error: r.code === "ENOENT" ? `${file}: not found on PATH` : r.shortMessage,
        };
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
