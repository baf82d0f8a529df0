// Tells when a listener process has bound its port, from /proc, so socat needs no logging to say so: its
// "listening on" line comes only with -d -d, which also logs every connection (and the agent had to read them all).
import { readdir, readFile, readlink } from "node:fs/promises";
import { performance } from "node:perf_hooks";

/**
 * The inodes of the sockets listening on `port` in one /proc/net/tcp or tcp6 table. Format (proc_net_tcp.txt):
 * a header line, then "sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...",
 * addresses as HEX:PORT in hexadecimal, st 0A = LISTEN.
 */
export function listeningInodes(table: string, port: number): string[] {
  const inodes: string[] = [];
  for (const line of table.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const inode = fields[9];
    if (local === undefined || inode === undefined || fields[3] !== "0A") continue;
    if (Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16) === port) inodes.push(inode);
  }
  return inodes;
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

const tables = new Map<string, { at: number; text: Promise<string> }>();

/**
 * The TCP6 table of the network namespace of `pid`, as read at `notBefore` or later: a read under way that started
 * late enough is shared, so many listeners starting together cost a few reads, not one each. Nothing is kept once
 * a read is done (the table of a busy host is large).
 */
async function tcp6Table(pid: number, proc: string, notBefore: number): Promise<string> {
  const key = `${proc} ${await readlink(`${proc}/${pid}/ns/net`).catch(() => `pid ${pid}`)}`;
  const shared = tables.get(key);
  if (shared !== undefined && shared.at >= notBefore) return shared.text;
  const text = readFile(`${proc}/${pid}/net/tcp6`, "utf8").catch(() => "");
  tables.set(key, { at: performance.now(), text });
  void text.then(() => {
    if (tables.get(key)?.text === text) tables.delete(key);
  });
  return text;
}

/**
 * Whether process `pid` holds a TCP6 socket listening on `port` (sixgate's listeners are TCP6-LISTEN): one of its
 * own sockets (/proc/PID/fd) is listening on that port in its network namespace's table (/proc/PID/net/tcp6), so
 * another program on the same port does not count. False when the process is gone.
 *
 * Its open files are looked at first, and the table only once it has a socket: reading the table walks the
 * kernel's whole connection hash (about 15 ms of CPU on a large server, little on a router), while a process
 * creates, binds and listens on its socket within microseconds.
 */
export async function listensOn(pid: number, port: number, proc = "/proc"): Promise<boolean> {
  const sockets = await socketInodes(pid, proc);
  if (sockets.size === 0) return false;
  const seen = performance.now();
  return listeningInodes(await tcp6Table(pid, proc, seen), port).some((inode) => sockets.has(inode));
}
