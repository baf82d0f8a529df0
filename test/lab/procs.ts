// Process inspection scoped to one network namespace: the lab never looks at (or kills)
// processes outside its own namespaces.
import { readFileSync, readdirSync } from "node:fs";
import { run } from "./util.js";

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
  args: string[];
}

/** Reads /proc/<pid>; undefined when the process is gone. */
export function readProc(pid: number): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // comm is in parentheses and may itself contain spaces or parentheses.
    const open = stat.indexOf("(");
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(open + 1, close);
    const fields = stat.slice(close + 2).split(" ");
    const ppid = Number(fields[1]);
    const args = readFileSync(`/proc/${pid}/cmdline`, "utf8")
      .split("\0")
      .filter((a) => a !== "");
    return { pid, ppid, comm, args };
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie (an orphan's reaping is up to pid 1). */
export function pidRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Pids of every process whose network namespace is `nsName` (`ip netns pids`). */
export async function nsPids(nsName: string): Promise<number[]> {
  const r = await run(["ip", "netns", "pids", nsName]);
  if (!r.ok) return [];
  return r.stdout
    .split("\n")
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

export async function nsProcesses(nsName: string): Promise<ProcInfo[]> {
  const pids = await nsPids(nsName);
  return pids.map(readProc).filter((p): p is ProcInfo => p !== undefined);
}

export interface SocatListener extends ProcInfo {
  /** The port of the TCP6-LISTEN / TCP-LISTEN address. */
  port: number;
}

const LISTEN_ADDRESS = /^tcp[46]?-l(?:isten)?:(\d+)/i;

/** The listen port of a socat command line, or undefined if it is not a listener. */
export function socatListenPort(args: readonly string[]): number | undefined {
  for (const a of args.slice(1)) {
    const m = LISTEN_ADDRESS.exec(a);
    if (m?.[1] !== undefined) return Number(m[1]);
  }
  return undefined;
}

/**
 * socat listener processes among `procs`. A forked per-connection child (parent is a
 * socat with the same listen port) is not a listener.
 */
export function socatListeners(procs: readonly ProcInfo[]): SocatListener[] {
  const socats = procs.filter((p) => p.comm === "socat");
  const byPid = new Map(socats.map((p) => [p.pid, p]));
  const out: SocatListener[] = [];
  for (const p of socats) {
    const port = socatListenPort(p.args);
    if (port === undefined) continue;
    const parent = byPid.get(p.ppid);
    if (parent && socatListenPort(parent.args) === port) continue;
    out.push({ ...p, port });
  }
  return out.sort((a, b) => a.port - b.port || a.pid - b.pid);
}

/** Number of open file descriptors of a process (undefined when it is gone). */
export function fdCount(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}
