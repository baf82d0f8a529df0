// The socat supervisor against real socat on loopback: bound when start() resolves, restarted after kill -9,
// a clear error when the port is taken, and nothing left after stop().
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer, connect, type Server } from "node:net";
import { tmpdir } from "node:os";
import { performance } from "node:perf_hooks";
import { join } from "node:path";
import { pino, type Logger } from "pino";
import type { ListenerSpec } from "../../src/core/types.js";
import { createRunner } from "../../src/effects/exec.js";
import { createSocatListeners } from "../../src/effects/listeners/socat.js";
import { createPidRecords } from "../../src/effects/pid-records.js";
import { recordingLogger } from "../hotplug/helpers.js";

const log = pino({ level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP "device" on 127.0.0.1 that answers every connection with a line. */
async function device(): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => s.end("device says hi\n"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return { server, port: address.port };
}

/** Connects to [::1]:port and returns what it reads, or the error code. */
function fetchThrough(port: number): Promise<string> {
  return new Promise((resolve) => {
    let data = "";
    const s = connect({ host: "::1", port, timeout: 2000 });
    s.on("data", (d: Buffer) => (data += d.toString()));
    s.on("end", () => resolve(data));
    s.on("timeout", () => {
      s.destroy();
      resolve("timeout");
    });
    s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
  });
}

const freePort = () => 20000 + Math.floor(Math.random() * 20000);

function spec(listen: number, target: number): ListenerSpec {
  return {
    device: "device",
    listen,
    target,
    wanInterface: "lo",
    wanAddress: "::1",
    deviceAddress: "127.0.0.1",
    lanAddress: "127.0.0.1",
    lanInterface: "lo",
    maxChildren: 8,
    backlog: 8,
    connectTimeoutSec: 2,
    keepaliveSec: 120,
    idleTimeoutSec: null,
    halfCloseSec: 30,
  };
}

async function setup(
  t: { after: (fn: () => Promise<void>) => void },
  options: { log?: Logger; now?: () => number } = {},
) {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-socat-"));
  const records = createPidRecords(dir, log);
  const listeners = createSocatListeners({
    runner: createRunner(log),
    log: options.log ?? log,
    records,
    backoff: { initialMs: 100, maxMs: 1000, resetAfterMs: 60000 },
    now: options.now,
  });
  t.after(async () => {
    await listeners.stopAll();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, listeners };
}

test("start resolves once socat is bound, and a client reaches the device through it", async (t) => {
  const { server, port } = await device();
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { log: captured, records: lines } = recordingLogger();
  const { listeners, dir } = await setup(t, { log: captured });
  const listen = freePort();
  const started = performance.now();
  await listeners.start(spec(listen, port));
  // Seen bound, not assumed after the ready timeout (3 s, with a warning).
  assert.ok(performance.now() - started < 2000, `start took ${performance.now() - started} ms`);
  assert.deepEqual(
    lines.filter((l) => l.level >= 40).map((l) => l.msg),
    [],
  );
  assert.equal(await fetchThrough(listen), "device says hi\n");
  const [status] = listeners.statuses();
  assert.ok(status !== undefined);
  assert.equal(status.state, "running");
  assert.ok(status.pid !== null && existsSync(`/proc/${status.pid}`));
  assert.deepEqual(await readdir(join(dir, "pids")), [`listener-device-${listen}.json`]);
});

test("kill -9 of socat: restarted with backoff, counted, serving again", async (t) => {
  const { server, port } = await device();
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { listeners } = await setup(t);
  const listen = freePort();
  await listeners.start(spec(listen, port));
  const first = listeners.statuses()[0]?.pid;
  assert.ok(typeof first === "number");
  process.kill(first, "SIGKILL");
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const s = listeners.statuses()[0];
    if (s?.state === "running" && s.pid !== first) break;
    await sleep(20);
  }
  const after = listeners.statuses()[0];
  assert.ok(after !== undefined);
  assert.equal(after.state, "running");
  assert.notEqual(after.pid, first);
  assert.equal(after.restarts, 1);
  assert.equal(await fetchThrough(listen), "device says hi\n");
});

test("a port held by another program: start rejects with socat's reason and leaves nothing running", async (t) => {
  const holder = createServer();
  const listen = freePort();
  await new Promise<void>((resolve) => holder.listen(listen, "::1", resolve));
  t.after(() => new Promise<void>((r) => holder.close(() => r())));
  const { listeners, dir } = await setup(t);
  await assert.rejects(listeners.start(spec(listen, 9)), /Address already in use/);
  assert.deepEqual(listeners.statuses(), []);
  assert.deepEqual(await readdir(join(dir, "pids")).catch(() => []), []);
});

test("stop ends socat and forgets its pid", async (t) => {
  const { server, port } = await device();
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { listeners, dir } = await setup(t);
  const listen = freePort();
  await listeners.start(spec(listen, port));
  const pid = listeners.statuses()[0]?.pid;
  assert.ok(typeof pid === "number");
  await listeners.stop(`device/${listen}`);
  // Gone, or at most a zombie (an empty command line) until node reaps it.
  const cmdline = existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, "utf8") : "";
  assert.equal(cmdline, "");
  assert.deepEqual(listeners.statuses(), []);
  assert.deepEqual(await readdir(join(dir, "pids")), []);
  assert.notEqual(await fetchThrough(listen), "device says hi\n");
});

test("a device that is off: connection errors are counted, and logged once a minute per port, never as errors", async (t) => {
  const { log: captured, records: lines } = recordingLogger();
  let clock = 0;
  const { listeners } = await setup(t, { log: captured, now: () => clock });
  const listen = freePort();
  await listeners.start(spec(listen, 9)); // nothing listens on the device port: every connect is refused
  const connectErrors = () => listeners.statuses()[0]?.connectionErrors ?? 0;
  for (let tick = 1; tick <= 5; tick++) {
    await fetchThrough(listen);
    const deadline = Date.now() + 2000;
    while (connectErrors() < tick && Date.now() < deadline) await sleep(10);
  }
  assert.equal(connectErrors(), 5);
  const loud = () => lines.filter((l) => l.level >= 40);
  assert.deepEqual(
    loud().map((l) => [l.level, l.msg, l.listen]),
    [[40, "connection failed (at most one line a minute per port)", listen]],
  );
  assert.match(String(loud()[0]?.error), /Connection refused/);
  clock += 61_000; // a minute later the next failure is logged again, with how many were not
  await fetchThrough(listen);
  const deadline = Date.now() + 2000;
  while (loud().length < 2 && Date.now() < deadline) await sleep(10);
  assert.equal(loud().length, 2);
  assert.equal(loud()[1]?.notLogged, 4);
  assert.equal(loud()[1]?.total, 6);
});

test("a planned stop logs nothing above debug", async (t) => {
  const { server, port } = await device();
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { log: captured, records: lines } = recordingLogger();
  const { listeners } = await setup(t, { log: captured });
  const listen = freePort();
  await listeners.start(spec(listen, port));
  const first = listeners.statuses()[0]?.pid;
  await listeners.start({ ...spec(listen, port), maxChildren: 4 }); // replaced: the old one is stopped
  const second = listeners.statuses()[0]?.pid;
  await listeners.stop(`device/${listen}`);
  assert.deepEqual(
    lines.filter((l) => l.level > 20).map((l) => l.msg),
    [],
  );
  // Both were really stopped: gone, or at most zombies (an empty command line) until node reaps them.
  assert.ok(typeof first === "number" && typeof second === "number" && first !== second);
  for (const pid of [first, second])
    assert.equal(existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, "utf8") : "", "");
});

// The rejection is the reconcile's error, and so the degraded phase's reason (was: "exited (code ?)").
test("socat gone after start (uninstalled, PATH changed): start rejects naming it", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-socat-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const listeners = createSocatListeners({
    runner: createRunner(log),
    log,
    records: createPidRecords(dir, log),
    socatPath: "sixgate-no-such-socat",
    backoff: { initialMs: 60000, maxMs: 60000, resetAfterMs: 60000 },
  });
  t.after(() => listeners.stopAll());
  const listen = freePort();
  await assert.rejects(listeners.start(spec(listen, 80)), /sixgate-no-such-socat: not found on PATH/);
});
