// Shared by the hotplug tests: a logger that records what it was told, and a running notification server.
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino, type Logger } from "pino";
import { ReplaySubject, firstValueFrom, take, timeout, toArray, type Subscription } from "rxjs";
import {
  hotplugMessages,
  notifySocketPath,
  type HotplugLimits,
  type HotplugMessage,
} from "../../src/sources/hotplug.js";

export interface LogRecord {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export function recordingLogger(): { log: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const log = pino(
    { level: "debug" },
    { write: (line: string) => records.push(JSON.parse(line) as LogRecord) },
  );
  return { log, records };
}

export async function waitFor(check: () => boolean, ms = 2000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface RunningServer {
  dir: string;
  socketPath: string;
  received: HotplugMessage[];
  records: LogRecord[];
  /** Resolves with the next `n` messages (from the start of the recording). */
  messages(n: number, ms?: number): Promise<HotplugMessage[]>;
  stop(): Promise<void>;
}

/** Starts hotplugMessages() on <fresh temp dir>/notify.sock and waits until it listens. */
export async function startServer(dir?: string, limits: Partial<HotplugLimits> = {}): Promise<RunningServer> {
  const runtimeDir = dir ?? (await mkdtemp(join(tmpdir(), "sixgate-hp-")));
  const socketPath = notifySocketPath(runtimeDir);
  const { log, records } = recordingLogger();
  const all = new ReplaySubject<HotplugMessage>();
  const received: HotplugMessage[] = [];
  const subscription: Subscription = hotplugMessages(socketPath, log, limits).subscribe((m) => {
    received.push(m);
    all.next(m);
  });
  await waitFor(() => records.some((r) => r.msg === "listening for hotplug notifications"));
  return {
    dir: runtimeDir,
    socketPath,
    received,
    records,
    messages: (n, ms = 2000) => firstValueFrom(all.pipe(take(n), toArray(), timeout(ms))),
    stop: async () => {
      subscription.unsubscribe();
      if (dir === undefined) await rm(runtimeDir, { recursive: true, force: true });
    },
  };
}

export const warnings = (records: LogRecord[]) => records.filter((r) => r.level === 40).map((r) => r.msg);

/** Leaves a socket file nobody listens on at `path`, as an agent killed with SIGKILL does. */
export function makeStaleSocket(path: string): void {
  const script = `require("node:net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"));`;
  const child = spawnSync(process.execPath, ["-e", script], { timeout: 5000 });
  if (child.signal !== "SIGKILL") throw new Error(`cannot make a stale socket: ${child.stderr.toString()}`);
}
