// Tells when a listener process has bound its port, from /proc, so socat needs no logging to say so: its
// "listening on" line comes only with -d -d, which also logs every connection (and the agent had to read them all).
import { readdir, readFile, readlink } from "node:fs/promises";
import { performance } from "node:perf_hooks";

/**
 * The inodes of the listening sockets in one /proc/net/tcp or tcp6 table, by local port. Format (proc_net_tcp.txt):
 * a header line, then "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...",
 * addresses as HEX:PORT in hexadecimal, st 0A = LISTEN.
 */
export function listeningSockets(table: string): Map<number, string[]> {
  const byPort = new Map<number, string[]>();
  for (const line of table.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const inode = fields[9];
    if (local === undefined || inode === undefined || fields[3] !== "0A") continue;
    const port = Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16);
    const inodes = byPort.get(port);
    if (inodes === undefined) byPort.set(port, [inode]);
    else inodes.push(inode);
  }
  return byPort;
}

/** The inodes of the sockets among a process's open files (/proc/PID/fd links "socket:[INODE]"); none when gone. */
async function socketInodes(pid: number, proc: string): Promise<Set<string>> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`${proc}/${pid}/fd`).catch(() => [])) {
    const target = await readlink(`${proc}/${pid}/fd/${fd}`).catch(() => "");
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined) inodes.add(inode);
  }
  return inodes;
}

/** How old a table read may be and still answer: a listener missed by it is seen at its next poll. */
const TABLE_MAX_AGE_MS = 5;

const tables = new Map<string, { at: number; sockets: Promise<Map<number, string[]>> }>();

/**
 * The listening sockets of the network namespace of `pid` (listeningSockets of its /proc/PID/net/tcp6), from a read
 * that started at most TABLE_MAX_AGE_MS ago: the listeners that start together (64 of a renumbering, each polled
 * every few ms) share one read and one parse instead of each reading and parsing the whole table. Nothing is kept
 * longer than that (the table of a busy host is large).
 */
async function tcp6Sockets(pid: number, proc: string): Promise<Map<number, string[]>> {
  const key = `${proc} ${await readlink(`${proc}/${pid}/ns/net`).catch(() => `pid ${pid}`)}`;
  const now = performance.now();
  const shared = tables.get(key);
  if (shared !== undefined && now - shared.at <= TABLE_MAX_AGE_MS) return shared.sockets;
  const sockets = readFile(`${proc}/${pid}/net/tcp6`, "utf8")
    .catch(() => "")
    .then(listeningSockets);
  const entry = { at: now, sockets };
  tables.set(key, entry);
  setTimeout(() => {
    if (tables.get(key) === entry) tables.delete(key);
  }, TABLE_MAX_AGE_MS + 1).unref();
  return sockets;
}

/**
 * Whether process `pid` holds a TCP6 socket listening on `port` (sixgate's listeners are TCP6-LISTEN): a socket in
 * LISTEN on that port in its network namespace's table (/proc/PID/net/tcp6) is one of its own open files
 * (/proc/PID/fd links "socket:[INODE]"), so another program on the same port does not count. False when the
 * process is gone.
 *
 * The shared table is looked at first and the process's files only once the port is listened on: a listener that
 * has not bound yet costs a map lookup per poll, not a walk of its files.
 */
export async function listensOn(pid: number, port: number, proc = "/proc"): Promise<boolean> {
  const listening = (await tcp6Sockets(pid, proc)).get(port);
  if (listening === undefined) return false;
  const own = await socketInodes(pid, proc);
  return listening.some((inode) => own.has(inode));
}
