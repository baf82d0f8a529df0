// Files under the runtime directory: the agent's pid and its status, read by `sixgate status` and `cleanup`.
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { AgentStatus } from "../core/status.js";
import { removeFile, writeFileAtomic } from "../effects/atomic-file.js";

/** What the status file holds: the agent's status plus what only the composition root knows. */
export type StatusFile = AgentStatus & { mqtt: { connected: boolean; broker: string } | null };

export const pidPath = (runtimeDir: string) => join(runtimeDir, "agent.pid");
export const statusPath = (runtimeDir: string) => join(runtimeDir, "status.json");

export async function ensureRuntimeDir(runtimeDir: string): Promise<void> {
  await mkdir(runtimeDir, { recursive: true, mode: 0o700 });
}

/** The kernel's start time of a process (clock ticks since boot), which tells a reused pid from the original. */
export async function processStartTime(pid: number | "self"): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name; starttime is field 22 overall.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

export async function writePidFile(runtimeDir: string): Promise<void> {
  await writeFileAtomic(pidPath(runtimeDir), `${process.pid} ${(await processStartTime("self")) ?? "?"}\n`);
}

/** The pid of a running agent for this runtime directory, if there is one. */
export async function runningAgentPid(runtimeDir: string): Promise<number | undefined> {
  try {
    const [pidText, started] = (await readFile(pidPath(runtimeDir), "utf8")).trim().split(" ");
    const pid = Number(pidText);
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return undefined;
    return started !== undefined && (await processStartTime(pid)) === started ? pid : undefined;
  } catch {
    return undefined;
  }
}

export async function readStatus(runtimeDir: string): Promise<StatusFile | undefined> {
  try {
    return JSON.parse(await readFile(statusPath(runtimeDir), "utf8")) as StatusFile;
  } catch {
    return undefined;
  }
}

export async function removeRuntimeFiles(runtimeDir: string): Promise<void> {
  await removeFile(statusPath(runtimeDir));
  await removeFile(pidPath(runtimeDir));
}
