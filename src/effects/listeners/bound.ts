// Tells when a listener process has bound its port, from /proc, so socat needs no logging to say so: its
// "listening on" line comes only with -d -d, which also logs every connection (and the agent had to read them all).
import { readdir, readFile, readlink } from "node:fs/promises";

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

/**
 * Whether process `pid` holds a TCP socket listening on `port`: a listening socket on that port in the tables of
 * the process's network namespace (/proc/PID/net/tcp6 and tcp) that is one of its own open files (/proc/PID/fd,
 * "socket:[INODE]"), so another program on the same port does not count. False when the process is gone. A few
 * small reads, cheap enough to poll while a listener starts.
 */
export async function listensOn(pid: number, port: number, proc = "/proc"): Promise<boolean> {
  const tables = await Promise.all(
    ["tcp6", "tcp"].map((t) => readFile(`${proc}/${pid}/net/${t}`, "utf8").catch(() => "")),
  );
  const inodes = new Set(tables.flatMap((t) => listeningInodes(t, port)));
  if (inodes.size === 0) return false;
  const fds = await readdir(`${proc}/${pid}/fd`).catch(() => []);
  for (const fd of fds) {
    const target = await readlink(`${proc}/${pid}/fd/${fd}`).catch(() => "");
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined && inodes.has(inode)) return true;
  }
  return false;
}
