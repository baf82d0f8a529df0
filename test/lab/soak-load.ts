// The soak's client load, run by test/lab/soak.ts inside the lab's client namespace: one loop per port, each a
// plain HTTP GET over IPv6 on a fresh connection, one in flight per port, a pause between them, a timeout on each.
// The target address is read from a file before every request (the soak rewrites it when it renumbers the WAN).
// Every request is one JSON line on stdout: {"port", "t0", "t1", "ok", "error"} (times in ms since the epoch).
// SIGTERM: no new requests; exits when those in flight are done.
//
// Usage: soak-load.ts ADDRESS_FILE LISTEN:TARGET[,LISTEN:TARGET...] PAUSE_MS TIMEOUT_MS
import { readFileSync } from "node:fs";
import { get } from "node:http";

const [addressFile, mappings, pauseArg, timeoutArg] = process.argv.slice(2);
if (addressFile === undefined || mappings === undefined) {
  process.stderr.write("usage: soak-load.ts ADDRESS_FILE LISTEN:TARGET[,...] PAUSE_MS TIMEOUT_MS\n");
  process.exit(64);
}
const pauseMs = Number(pauseArg ?? 200);
const timeoutMs = Number(timeoutArg ?? 3000);
const ports = mappings.split(",").map((m) => m.split(":").map(Number) as [number, number]);
let stopping = false;

export interface LoadRecord {
  port: number;
  t0: number;
  t1: number;
  ok: boolean;
  error: string | null;
}

/** One request; resolves (never rejects) with what the client saw. The device's page names its port. */
function once(listen: number, target: number): Promise<LoadRecord> {
  const t0 = Date.now();
  const done = (ok: boolean, error: string | null): LoadRecord => ({
    port: listen,
    t0,
    t1: Date.now(),
    ok,
    error,
  });
  return new Promise((resolve) => {
    let address: string;
    try {
      address = readFileSync(addressFile ?? "", "utf8").trim();
    } catch (e) {
      resolve(done(false, `address file: ${String(e)}`));
      return;
    }
    const request = get(
      { hostname: address, port: listen, path: "/", agent: false, signal: AbortSignal.timeout(timeoutMs) },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          if (body.length < 4096) body += chunk;
        });
        response.on("end", () => {
          const expected = `sixgate-lab-device port=${target}`;
          if (response.statusCode !== 200) resolve(done(false, `HTTP ${String(response.statusCode)}`));
          else
            resolve(
              body.includes(expected)
                ? done(true, null)
                : done(false, `unexpected body ${body.slice(0, 80)}`),
            );
        });
        response.on("error", (e) => resolve(done(false, e.message)));
      },
    );
    request.on("error", (e: NodeJS.ErrnoException) => resolve(done(false, e.code ?? e.name)));
  });
}

async function loop(listen: number, target: number): Promise<void> {
  while (!stopping) {
    process.stdout.write(`${JSON.stringify(await once(listen, target))}\n`);
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

process.on("SIGTERM", () => {
  stopping = true;
});
await Promise.all(ports.map(([listen, target]) => loop(listen, target)));
