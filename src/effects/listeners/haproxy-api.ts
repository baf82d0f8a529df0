// HAProxy's runtime API over its stats socket (a unix socket under runtimeDir): one command per connection, the
// answer read to the end. Format of `show stat` and `show info`: HAProxy 2.6 management.txt, section 9.
import { createConnection } from "node:net";

/** What the adapter reads of one `show stat` row (a frontend, a server or a backend of a proxy). */
export interface StatRow {
  /** The proxy's name (the listen section). */
  pxname: string;
  /** "FRONTEND", "BACKEND" or the server's name. */
  svname: string;
  /** Sessions open now. */
  scur: number;
  /** Failed connections to the server (backend and server rows). */
  econ: number;
  /** A listening socket's address, "[2001:db8::1]:8000" (rows of `option socket-stats`); "" on other rows. */
  addr: string;
}

/**
 * Parses `show stat`'s CSV: a header line "# pxname,svname,qcur,..." naming the columns, then one line per row.
 * Columns are found by name (their set grows between versions); an empty number is 0.
 */
export function parseShowStat(text: string): StatRow[] {
  const [header, ...lines] = text.split("\n");
  if (header === undefined || !header.startsWith("# ")) throw new Error("show stat: no header line");
  const names = header.slice(2).split(",");
  const column = (name: string) => {
    const i = names.indexOf(name);
    if (i < 0) throw new Error(`show stat: no ${name} column`);
    return i;
  };
  const [px, sv, scur, econ] = [column("pxname"), column("svname"), column("scur"), column("econ")];
  // A listening socket's bound address (management.txt, field "addr"); absent from old versions: "" then.
  const addr = names.indexOf("addr");
  return lines
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const f = l.split(",");
      return {
        pxname: f[px] ?? "",
        svname: f[sv] ?? "",
        scur: Number(f[scur] || 0),
        econ: Number(f[econ] || 0),
        addr: (addr < 0 ? undefined : f[addr]) ?? "",
      };
    });
}

/** The `Pid:` line of `show info`: the worker that answered. */
export function parseInfoPid(text: string): number | undefined {
  const m = /^Pid: (\d+)$/m.exec(text);
  return m === null ? undefined : Number(m[1]);
}

/** Sends one command to the socket and resolves with the whole answer; rejects on a socket error or after timeoutMs. */
export function runtimeCommand(socket: string, command: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const conn = createConnection(socket);
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`${socket}: no answer to ${command} within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.on("connect", () => conn.end(`${command}\n`));
    conn.on("data", (c: Buffer) => chunks.push(c));
    conn.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    conn.on("close", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString("utf8"));
    });
  });
}
