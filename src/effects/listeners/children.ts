// Counts a listener's open connections without any per-connection logging: socat forks one child per connection,
// so the count is the number of the listener process's children, read from /proc.
import { readdir, readFile } from "node:fs/promises";

/** The parent pid in /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces and ")". */
export function parentOf(stat: string): number | undefined {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ppid = Number(fields[1]);
  return Number.isInteger(ppid) ? ppid : undefined;
}

/** Children of each pid from /proc/PID/task/PID/children (kernels with CONFIG_PROC_CHILDREN); undefined without. */
async function fromChildrenFiles(
  pids: readonly number[],
  proc: string,
): Promise<Map<number, number> | undefined> {
  const counts = new Map<number, number>();
  for (const pid of pids) {
    try {
      const text = await readFile(`${proc}/${pid}/task/${pid}/children`, "utf8");
      counts.set(pid, text.split(" ").filter((s) => s.trim() !== "").length);
    } catch (e) {
      const gone = (e as NodeJS.ErrnoException).code === "ENOENT";
      // The process is there but the file is not: the kernel lacks it (OpenWrt's usually does).
      if (gone && (await readFile(`${proc}/${pid}/stat`, "utf8").catch(() => undefined)) !== undefined)
        return undefined;
      counts.set(pid, 0);
    }
  }
  return counts;
}

/** The same from one pass over /proc/[0-9]+/stat: a read per process, for kernels without the children file. */
async function fromStatScan(pids: readonly number[], proc: string): Promise<Map<number, number>> {
  const counts = new Map(pids.map((pid) => [pid, 0]));
  for (const name of await readdir(proc)) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`${proc}/${name}/stat`, "utf8").catch(() => undefined);
    const ppid = stat === undefined ? undefined : parentOf(stat);
    const count = ppid === undefined ? undefined : counts.get(ppid);
    if (ppid !== undefined && count !== undefined) counts.set(ppid, count + 1);
  }
  return counts;
}

/**
 * How many direct children each pid has (0 for a pid that is gone). Costs one small read per pid where the kernel
 * offers /proc/PID/task/PID/children, else one read per process on the machine (about a hundred on a router).
 */
export async function countChildren(pids: readonly number[], proc = "/proc"): Promise<Map<number, number>> {
  if (pids.length === 0) return new Map();
  return (await fromChildrenFiles(pids, proc)) ?? fromStatScan(pids, proc);
}
