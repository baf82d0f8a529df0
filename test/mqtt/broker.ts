// A real Mosquitto for the MQTT tests: loopback only, free ports, one plain listener with a password file and one
// TLS listener with a CA and server certificate made here with openssl. Every broker started is killed on stop(),
// and on process exit as a last resort.
import { execa, type ResultPromise } from "execa";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";

export const USERNAME = "sixgate";
export const PASSWORD = "broker-pass-7f3c1e9a";

const live = new Set<ResultPromise>();
function killAll(): void {
  for (const child of live) child.kill("SIGKILL");
}
process.on("exit", killAll);
// A test process stopped by a signal (a runner's timeout, Ctrl-C) runs no exit handlers: take the brokers along.
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
  process.once(signal, () => {
    killAll();
    process.kill(process.pid, signal);
  });
}

async function run(argv: string[]): Promise<void> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error("empty argv");
  const r = await execa(file, args, { reject: false, timeout: 20000, stdin: "ignore" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr}`);
}

/** A port nobody listens on right now (the kernel's pick). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === "object") resolve(address.port);
        else reject(new Error("no port"));
      });
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

async function waitForPort(port: number, up: boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await canConnect(port)) === up) return;
    await delay(50);
  }
  throw new Error(`port ${port} did not become ${up ? "reachable" : "free"} within ${timeoutMs} ms`);
}

/** A CA, and a server certificate for 127.0.0.1 / localhost signed by it. */
export async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const ca = join(dir, "ca.crt");
  const caKey = join(dir, "ca.key");
  const key = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const cert = join(dir, "server.crt");
  const ext = join(dir, "server.ext");
  await run(
    ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", caKey, "-out", ca].concat([
      "-days",
      "2",
      "-subj",
      "/CN=sixgate test CA",
    ]),
  );
  await run([
    "openssl",
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    "/CN=localhost",
  ]);
  await writeFile(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  await run(
    [
      "openssl",
      "x509",
      "-req",
      "-in",
      csr,
      "-CA",
      ca,
      "-CAkey",
      caKey,
      "-CAcreateserial",
      "-out",
      cert,
    ].concat(["-days", "2", "-extfile", ext]),
  );
  return { ca, cert, key };
}

export interface Broker {
  dir: string;
  port: number;
  tlsPort: number;
  url: string;
  tlsUrl: string;
  caFile: string;
  /** Another CA, which did not sign the server certificate. */
  otherCaFile: string;
  /** Stops the broker (SIGTERM, then SIGKILL); retained messages are lost (no persistence). */
  stop(): Promise<void>;
  /** Starts it again on the same ports. */
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  destroy(): Promise<void>;
  log(): Promise<string>;
}

export async function startBroker(): Promise<Broker> {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-mqtt-"));
  const { ca, cert, key } = await makeCertificates(dir);
  const otherDir = join(dir, "other");
  await run(["mkdir", "-p", otherDir]);
  const other = await makeCertificates(otherDir);
  const passwd = join(dir, "passwd");
  await run(["mosquitto_passwd", "-c", "-b", passwd, USERNAME, PASSWORD]);
  const port = await freePort();
  const tlsPort = await freePort();
  const logFile = join(dir, "mosquitto.log");
  const conf = join(dir, "mosquitto.conf");
  const lines = [
    "per_listener_settings true",
    "persistence false",
    `log_dest file ${logFile}`,
    "log_type all",
    "connection_messages true",
    ...(process.getuid?.() === 0 ? ["user root"] : []),
    `listener ${port} 127.0.0.1`,
    "allow_anonymous false",
    `password_file ${passwd}`,
    `listener ${tlsPort} 127.0.0.1`,
    "allow_anonymous false",
    `password_file ${passwd}`,
    `cafile ${ca}`,
    `certfile ${cert}`,
    `keyfile ${key}`,
  ];
  await writeFile(conf, lines.join("\n") + "\n");

  let child: ResultPromise | undefined;
  const start = async () => {
    if (child !== undefined) throw new Error("broker already running");
    const c = execa("mosquitto", ["-c", conf], {
      reject: false,
      stdin: "ignore",
      stdout: "ignore",
      stderr: "pipe",
    });
    child = c;
    live.add(c);
    try {
      await waitForPort(port, true, 5000);
      await waitForPort(tlsPort, true, 5000);
    } catch (e) {
      const why = c.exitCode !== null ? (await c).stderr : "";
      await stop();
      throw new Error(`mosquitto did not start: ${String(e)} ${why}`);
    }
  };
  const stop = async () => {
    const c = child;
    if (c === undefined) return;
    child = undefined;
    c.kill("SIGTERM");
    const timer = setTimeout(() => c.kill("SIGKILL"), 3000);
    await c;
    clearTimeout(timer);
    live.delete(c);
    await waitForPort(port, false, 5000);
  };
  await start();
  return {
    dir,
    port,
    tlsPort,
    url: `mqtt://127.0.0.1:${port}`,
    tlsUrl: `mqtts://127.0.0.1:${tlsPort}`,
    caFile: ca,
    otherCaFile: other.ca,
    stop,
    start,
    destroy: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
    log: () => readFile(logFile, "utf8").catch(() => ""),
  };
}
