// Health probes against real sockets on loopback, the report built from them, and the node-cron tick.
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { setTimeout as delay } from "node:timers/promises";
import { execa } from "execa";
import { pino } from "pino";
import { failingHop } from "../../src/core/phase.js";
import { createRunner, type Runner } from "../../src/effects/exec.js";
import {
  createConnector,
  createProber,
  describeSocatFailure,
  runProbes,
  scheduleTicks,
  socatConnect,
  tcpConnect,
  type ConnectOptions,
  type ProbeSpec,
} from "../../src/effects/probes.js";
import { sampleStatus } from "../fakes/control.js";

const quiet = pino({ level: "silent" });

/** A server on loopback that does `onConnection` with each client; closed at the end. */
async function server(
  host: string,
  onConnection: (s: Socket) => void,
): Promise<{ port: number; server: Server }> {
  const srv = createServer((s) => {
    s.on("error", () => undefined);
    onConnection(s);
  });
  await new Promise<void>((resolve) => srv.listen(0, host, resolve));
  const address = srv.address();
  if (address === null || typeof address === "string") throw new Error("no address");
  return { port: address.port, server: srv };
}

async function closedPort(): Promise<number> {
  const { port, server: srv } = await server("127.0.0.1", () => undefined);
  await new Promise((r) => srv.close(r));
  return port;
}

describe("tcpConnect", () => {
  test("a listening port: ok, with the time it took", async () => {
    const { port, server: srv } = await server("127.0.0.1", (s) => s.end());
    try {
      const r = await tcpConnect({ host: "127.0.0.1", port, timeoutMs: 1000 });
      assert.equal(r.ok, true);
      assert.equal(r.error, null);
      assert.ok(r.ms >= 0 && r.ms < 1000);
    } finally {
      srv.close();
    }
  });

  test("from a given source address (localAddress)", async () => {
    let remote: string | undefined;
    const { port, server: srv } = await server("127.0.0.1", (s) => {
      remote = s.remoteAddress;
      s.end();
    });
    try {
      const r = await tcpConnect({ host: "127.0.0.1", port, localAddress: "127.0.0.2", timeoutMs: 1000 });
      assert.equal(r.ok, true, r.error ?? "");
      assert.equal(remote, "127.0.0.2");
      const bad = await tcpConnect({ host: "127.0.0.1", port, localAddress: "192.0.2.77", timeoutMs: 1000 });
      assert.equal(bad.ok, false);
      assert.match(bad.error ?? "", /EADDRNOTAVAIL/);
    } finally {
      srv.close();
    }
  });

  test("a closed port: refused", async () => {
    const r = await tcpConnect({ host: "127.0.0.1", port: await closedPort(), timeoutMs: 1000 });
    assert.equal(r.ok, false);
    assert.match(r.error ?? "", /ECONNREFUSED/);
  });

  test("IPv6 loopback", async () => {
    const { port, server: srv } = await server("::1", (s) => s.end());
    try {
      assert.equal((await tcpConnect({ host: "::1", port, timeoutMs: 1000 })).ok, true);
    } finally {
      srv.close();
    }
  });

  test("settle: a proxy that closes right after accepting (device unreachable) is a failure", async () => {
    const { port, server: srv } = await server("127.0.0.1", (s) => s.destroy());
    try {
      const connectOnly = await tcpConnect({ host: "127.0.0.1", port, timeoutMs: 1000 });
      assert.equal(connectOnly.ok, true, "a bare connect cannot tell");
      const settled = await tcpConnect({ host: "127.0.0.1", port, timeoutMs: 1000, settleMs: 300 });
      assert.equal(settled.ok, false);
      assert.match(settled.error ?? "", /closed by the far end|ECONNRESET/);
    } finally {
      srv.close();
    }
  });

  test("settle: a server that speaks first, or stays silent and open, is a success", async () => {
    const sockets: Socket[] = [];
    const talker = await server("127.0.0.1", (s) => s.write("220 hello\r\n"));
    const silent = await server("127.0.0.1", (s) => sockets.push(s));
    try {
      const started = Date.now();
      const a = await tcpConnect({ host: "127.0.0.1", port: talker.port, timeoutMs: 2000, settleMs: 1500 });
      assert.equal(a.ok, true);
      assert.ok(Date.now() - started < 1000, "data ends the wait early");
      const b = await tcpConnect({ host: "127.0.0.1", port: silent.port, timeoutMs: 2000, settleMs: 200 });
      assert.equal(b.ok, true);
    } finally {
      for (const s of sockets) s.destroy();
      talker.server.close();
      silent.server.close();
    }
  });

  test("a peer that never answers: timed out within the bound", async () => {
    // A listener that never accepts, its backlog filled: the kernel drops further SYNs, so connect hangs.
    const python = [
      "import socket, sys, time",
      "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)",
      "print(s.getsockname()[1], flush=True)",
      "time.sleep(20)",
    ].join("\n");
    const child = execa("python3", ["-c", python], {
      reject: false,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "ignore",
    });
    const fillers: Socket[] = [];
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
        setTimeout(() => reject(new Error("python did not start")), 5000);
      });
      for (let i = 0; i < 4; i++) {
        const f = connect({ host: "127.0.0.1", port });
        f.on("error", () => undefined);
        fillers.push(f);
      }
      await delay(200);
      const started = Date.now();
      const r = await tcpConnect({ host: "127.0.0.1", port, timeoutMs: 300 });
      assert.ok(Date.now() - started < 1000, "must return within about timeoutMs");
      assert.deepEqual([r.ok, r.error], [false, "timed out after 300 ms"]);
    } finally {
      for (const f of fillers) f.destroy();
      child.kill("SIGKILL");
      await child;
    }
  });

  test("a silent peer with a long settle window: bounded by the timeout, not the window", async () => {
    const sockets: Socket[] = [];
    const silent = await server("127.0.0.1", (s) => sockets.push(s));
    try {
      const started = Date.now();
      const r = await tcpConnect({ host: "127.0.0.1", port: silent.port, timeoutMs: 300, settleMs: 5000 });
      assert.ok(Date.now() - started < 800);
      assert.equal(r.ok, true);
    } finally {
      for (const s of sockets) s.destroy();
      silent.server.close();
    }
  });
});

describe("socatConnect: the device hop pinned like the listener's own connection", () => {
  const runner = createRunner(quiet);
  const pinned = (o: Partial<ConnectOptions> & { port: number }) =>
    socatConnect(runner, {
      host: "127.0.0.1",
      localAddress: "127.0.0.1",
      device: "lo",
      timeoutMs: 1000,
      ...o,
    });

  test("accepted, refused, and pinned to an interface that does not exist", async () => {
    const device = await server("127.0.0.1", (s) => s.end());
    try {
      const ok = await pinned({ port: device.port });
      assert.deepEqual([ok.ok, ok.error], [true, null]);
      const refused = await pinned({ port: await closedPort() });
      assert.equal(refused.ok, false);
      assert.match(refused.error ?? "", /^ECONNREFUSED: connect\(.*Connection refused$/);
      const noDevice = await pinned({ port: device.port, device: "sgnone0" });
      assert.match(noDevice.error ?? "", /^ENODEV: .*No such device$/);
      const notOurs = await pinned({ port: device.port, localAddress: "192.0.2.77" });
      assert.match(notOurs.error ?? "", /^EADDRNOTAVAIL: /);
    } finally {
      device.server.close();
    }
  });

  test("createConnector runs at most 4 pinned probes at once; node's connects are not held back", async () => {
    let active = 0;
    let most = 0;
    const counting: Runner = {
      run: async (argv) => {
        active++;
        most = Math.max(most, active);
        await delay(50);
        active--;
        return runner.run(argv);
      },
      spawn: () => assert.fail("a probe never spawns"),
    };
    const device = await server("127.0.0.1", (s) => s.end());
    try {
      const connector = createConnector(counting);
      const pinnedProbes = Array.from({ length: 12 }, () =>
        connector({
          host: "127.0.0.1",
          port: device.port,
          localAddress: "127.0.0.1",
          device: "lo",
          timeoutMs: 2000,
        }),
      );
      const plain = await connector({ host: "127.0.0.1", port: device.port, timeoutMs: 2000 });
      assert.equal(plain.ok, true);
      assert.ok(active > 0, "node's connect finished while pinned probes were still running");
      const outcomes = await Promise.all(pinnedProbes);
      assert.deepEqual(
        outcomes.map((o) => o.ok),
        Array.from({ length: 12 }, () => true),
      );
      assert.equal(most, 4);
    } finally {
      device.server.close();
    }
  });

  test("bad input never reaches socat's command line", async () => {
    const calls: (readonly string[])[] = [];
    const spy: Runner = {
      run: (argv) => (calls.push(argv), runner.run(argv)),
      spawn: () => assert.fail("a probe never spawns"),
    };
    const cases: [Partial<ConnectOptions>, RegExp][] = [
      [{ host: "127.0.0.1,fork" }, /not an IPv4 address/],
      [{ host: "::1" }, /not an IPv4 address/],
      [{ port: 0 }, /not an IPv4 address and port/],
      [{ localAddress: "127.0.0.1,so-reuseport" }, /not an IPv4 source address/],
      [{ localAddress: undefined }, /not an IPv4 source address/],
      [{ device: "lo,fork" }, /not an interface name/],
      [{ device: undefined }, /not an interface name/],
    ];
    for (const [o, error] of cases) {
      const r = await socatConnect(spy, {
        host: "127.0.0.1",
        port: 80,
        localAddress: "127.0.0.1",
        device: "lo",
        timeoutMs: 500,
        ...o,
      });
      assert.equal(r.ok, false);
      assert.match(r.error ?? "", error, JSON.stringify(o));
    }
    assert.equal(calls.length, 0);
  });

  test("socat's messages read as node's error codes; a timeout from either socat or the runner", () => {
    const line = (m: string) => `2026/11/26 17:47:13 socat[32584] E ${m}\n`;
    assert.equal(
      describeSocatFailure(line("connecting to AF=2 192.168.78.9:80: Connection timed out"), 2000),
      "timed out after 2000 ms",
    );
    assert.equal(describeSocatFailure("\ntimed out after 3000 ms", 2000), "timed out after 2000 ms");
    assert.equal(
      describeSocatFailure(line("connect(6, AF=2 192.168.1.9:80, 16): No route to host"), 2000),
      "EHOSTUNREACH: connect(6, AF=2 192.168.1.9:80, 16): No route to host",
    );
    assert.equal(
      describeSocatFailure(line("something new: Odd failure"), 2000),
      "something new: Odd failure",
    );
    assert.equal(describeSocatFailure("spawn socat ENOENT\n", 2000), "spawn socat ENOENT");
    assert.equal(describeSocatFailure("", 2000), "socat failed without a message");
  });

  test("createConnector pins a hop that names an interface and leaves the others to node", async () => {
    const device = await server("127.0.0.1", (s) => s.end());
    try {
      const connector = createConnector(runner);
      const viaSocat = await connector({
        host: "127.0.0.1",
        port: device.port,
        localAddress: "127.0.0.1",
        device: "sgnone0",
        timeoutMs: 500,
      });
      assert.match(
        viaSocat.error ?? "",
        /^ENODEV/,
        "an interface that does not exist fails only when pinned",
      );
      const viaNode = await connector({
        host: "127.0.0.1",
        port: device.port,
        localAddress: "127.0.0.1",
        timeoutMs: 500,
      });
      assert.equal(viaNode.ok, true);
      const refused = await tcpConnect({
        host: "127.0.0.1",
        port: device.port,
        device: "lo",
        timeoutMs: 500,
      });
      assert.match(refused.error ?? "", /cannot pin/);
    } finally {
      device.server.close();
    }
  });
});

describe("runProbes", () => {
  /** Every address known: the gateway of the lab. */
  /** A one-device spec in the form of the 0.1 probes (one device address, its ports). */
  const single = (o: {
    deviceAddress: string | null;
    lanAddress: string | null;
    lanInterface: string;
    wanAddress: string | null;
    ports: { listen: number; target: number }[];
    timeoutMs?: number;
  }): ProbeSpec => ({
    devices: [
      {
        name: "device",
        deviceAddress: o.deviceAddress,
        lanAddress: o.lanAddress,
        enabled: true,
        ports: o.ports,
      },
    ],
    lanInterface: o.lanInterface,
    wanAddress: o.wanAddress,
    timeoutMs: o.timeoutMs,
  });
  const LAB_SPEC = {
    deviceAddress: "192.168.1.100",
    lanAddress: "192.168.1.1",
    lanInterface: "lan0",
    wanAddress: "2001:db8::1",
  };
  const calls: ConnectOptions[] = [];
  const fake = (fail: (o: ConnectOptions) => string | null) => async (o: ConnectOptions) => {
    calls.push(o);
    await delay(5);
    const error = fail(o);
    return { ok: error === null, ms: 5, error };
  };

  test("device hop from the LAN address to device:target, end to end through [wan]:listen", async () => {
    calls.length = 0;
    const report = await runProbes(
      single({
        ...LAB_SPEC,
        ports: [
          { listen: 80, target: 8080 },
          { listen: 2323, target: 23 },
        ],
        timeoutMs: 700,
      }),
      fake(() => null),
      () => new Date("2026-01-01T00:00:00Z"),
    );
    assert.equal(report.at, "2026-01-01T00:00:00.000Z");
    assert.equal(report.ok, true);
    assert.deepEqual(
      report.results.map((r) => [r.hop, r.listen, r.target, r.ok]),
      [
        ["device", 80, 8080, true],
        ["end-to-end", 80, 8080, true],
        ["device", 2323, 23, true],
        ["end-to-end", 2323, 23, true],
      ],
    );
    assert.deepEqual(calls[0], {
      host: "192.168.1.100",
      port: 8080,
      localAddress: "192.168.1.1",
      device: "lan0",
      timeoutMs: 700,
    });
    assert.deepEqual(calls[1], { host: "2001:db8::1", port: 80, timeoutMs: 700, settleMs: 300 });
  });

  test("one device probe per target port, shared by every listener that leads to it", async () => {
    calls.length = 0;
    const report = await runProbes(
      single({
        ...LAB_SPEC,
        ports: [
          { listen: 80, target: 80 },
          { listen: 8080, target: 80 },
          { listen: 2323, target: 23 },
        ],
      }),
      fake(() => null),
    );
    assert.deepEqual(
      calls.filter((c) => c.device !== undefined).map((c) => c.port),
      [80, 23],
    );
    assert.deepEqual(
      report.results.filter((r) => r.hop === "device").map((r) => [r.listen, r.target, r.ok]),
      [
        [80, 80, true],
        [8080, 80, true],
        [2323, 23, true],
      ],
    );
  });

  test("one failing hop fails the report and is named as the reason", async () => {
    const report = await runProbes(
      single({
        ...LAB_SPEC,
        ports: [{ listen: 2323, target: 23 }],
      }),
      fake((o) => (o.port === 2323 ? "ECONNREFUSED: connect ECONNREFUSED" : null)),
    );
    assert.equal(report.ok, false);
    assert.equal(
      failingHop(report, "device"),
      "probe failed: listener port 2323 (end to end): ECONNREFUSED: connect ECONNREFUSED",
    );
  });

  test("unknown addresses are failures without a connection attempt", async () => {
    calls.length = 0;
    const report = await runProbes(
      single({
        deviceAddress: null,
        lanAddress: "192.168.1.1",
        lanInterface: "lan0",
        wanAddress: null,
        ports: [{ listen: 80, target: 80 }],
      }),
      fake(() => null),
    );
    assert.equal(calls.length, 0);
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.results.map((r) => r.error),
      ["device address not known", "no WAN IPv6 address"],
    );
    assert.equal(failingHop(report, "device"), "probe failed: device port 80: device address not known");
  });

  test("no ports: not ok (nothing was shown to work)", async () => {
    const report = await runProbes(
      single({
        ...LAB_SPEC,
        ports: [],
      }),
      fake(() => null),
    );
    assert.equal(report.ok, false);
    assert.equal(failingHop(report, "device"), undefined);
  });

  test("createProber probes what the status says is in force, and only the device while disabled", async () => {
    calls.length = 0;
    const prober = createProber({ connector: fake(() => null), timeoutMs: 500 });
    const report = await prober(sampleStatus());
    assert.equal(report.results.length, 4);
    assert.equal(report.ok, true);
    assert.deepEqual(
      calls.map((c) => `${c.host}:${c.port}`).sort(),
      ["192.168.1.100:23", "192.168.1.100:80", "2001:db8::1:2323", "2001:db8::1:80"].sort(),
    );
    const status = sampleStatus();
    const disabled = await prober({
      ...status,
      devices: status.devices.map((d) => ({ ...d, enabled: false })),
    });
    assert.deepEqual(
      disabled.results.map((r) => r.hop),
      ["device", "device"],
    );
    assert.equal(disabled.ok, true);
  });

  test("real sockets end to end: a listener that forwards, and one whose device is gone", async () => {
    // The device hop is real socat pinned to lo, as the agent pins it to the LAN interface.
    const connector = createConnector(createRunner(quiet));
    const device = await server("127.0.0.1", (s) => s.end("hello"));
    const deadPort = await closedPort();
    // A tiny proxy on ::1 in the role of socat: accept, then connect to the target; close the client if that fails.
    const proxy = (targetPort: number) =>
      server("::1", (client) => {
        const up = connect({ host: "127.0.0.1", port: targetPort });
        up.on("error", () => client.destroy());
        client.on("error", () => up.destroy());
        up.pipe(client);
        client.pipe(up);
      });
    const good = await proxy(device.port);
    const broken = await proxy(deadPort);
    try {
      const report = await runProbes(
        single({
          deviceAddress: "127.0.0.1",
          lanAddress: "127.0.0.1",
          lanInterface: "lo",
          wanAddress: "::1",
          ports: [{ listen: good.port, target: device.port }],
          timeoutMs: 1000,
        }),
        connector,
      );
      assert.equal(report.ok, true, JSON.stringify(report));
      const bad = await runProbes(
        single({
          deviceAddress: "127.0.0.1",
          lanAddress: "127.0.0.1",
          lanInterface: "lo",
          wanAddress: "::1",
          ports: [{ listen: broken.port, target: deadPort }],
          timeoutMs: 1000,
        }),
        connector,
      );
      assert.equal(bad.ok, false);
      assert.deepEqual(
        bad.results.map((r) => [r.hop, r.ok]),
        [
          ["device", false],
          ["end-to-end", false],
        ],
      );
      assert.match(bad.results[0]?.error ?? "", /^ECONNREFUSED: /);
    } finally {
      device.server.close();
      good.server.close();
      broken.server.close();
    }
  });
});

describe("health tick", () => {
  test("scheduleTicks runs on the cron schedule, skips overlapping ticks, and stops", async () => {
    let runs = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    const ticker = scheduleTicks(
      "* * * * * *",
      async () => {
        runs++;
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        await delay(1500);
        concurrent--;
      },
      quiet,
      "test",
    );
    await delay(3300);
    ticker.stop();
    const atStop = runs;
    assert.ok(runs >= 1 && runs <= 2, `runs: ${runs}`);
    assert.equal(maxConcurrent, 1, "a slow tick must not overlap the next");
    await delay(1200);
    assert.equal(runs, atStop, "no tick after stop");
  });

  test("a failing tick is logged, and the next one still runs", async () => {
    let runs = 0;
    const ticker = scheduleTicks(
      "* * * * * *",
      () => {
        runs++;
        throw new Error("boom");
      },
      quiet,
    );
    await delay(2300);
    ticker.stop();
    assert.ok(runs >= 2, `runs: ${runs}`);
  });

  test("a step of the wall clock, months ahead or weeks back: the ticks go on and the event loop never stalls", async (t) => {
    const child = execa(
      "node",
      ["--import", "tsx", fileURLToPath(new URL("./fixtures/ticks-child.ts", import.meta.url))],
      {
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
        reject: false,
      },
    );
    t.after(async () => {
      child.kill("SIGKILL");
      await child;
    });
    const lines: { text: string; at: number }[] = [];
    let partial = "";
    child.stdout.on("data", (chunk: Buffer) => {
      const parts = (partial + chunk.toString("utf8")).split("\n");
      partial = parts.pop() ?? "";
      for (const text of parts) lines.push({ text, at: performance.now() });
    });
    const ticks = () => lines.filter((l) => l.text === "tick").length;
    const until = async (what: string, done: () => boolean, timeoutMs: number) => {
      const deadline = performance.now() + timeoutMs;
      while (!done()) {
        if (performance.now() > deadline)
          assert.fail(`${what} within ${timeoutMs} ms; stderr: ${child.stderr.read()}`);
        await delay(20);
      }
    };
    const send = (line: string) => child.stdin.write(`${line}\n`);
    /** How long the child's event loop takes to answer, in ms. */
    const ping = async () => {
      const before = lines.filter((l) => l.text === "pong").length;
      const sent = performance.now();
      send("ping");
      await until("a pong", () => lines.filter((l) => l.text === "pong").length > before, 20000);
      return performance.now() - sent;
    };

    await until("two ticks", () => ticks() >= 2, 15000);
    // 180 days ahead, as at a first NTP sync: node-cron's own runner would replay 15 million missed slots here.
    send(`step ${180 * 86400_000}`);
    await delay(1500);
    assert.ok((await ping()) < 1000, "the event loop answers at once after the step ahead");
    let mark = ticks();
    await until("two ticks after the step ahead", () => ticks() >= mark + 2, 5000);

    // Two weeks back: ticks go on within a slot or two instead of waiting two weeks.
    send(`step ${-14 * 86400_000}`);
    mark = ticks();
    await until("two ticks after the step back", () => ticks() >= mark + 2, 5000);
    assert.ok((await ping()) < 1000);
  });
});
