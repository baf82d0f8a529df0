// listener.backend: haproxy with the built agent in the lab and the real HAProxy: one process for every port,
// changes by master-worker reloads that an open download survives, supervision (crash, leftover of a killed agent),
// and a foreign HAProxy on the same gateway left alone.
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseInfoPid, runtimeCommand } from "../../src/effects/listeners/haproxy-api.js";
import {
  createLabFor,
  pidAlive,
  waitAnswers,
  waitFor,
  type AgentProcess,
  type ConfigOverrides,
  type Lab,
} from "./lab.js";

const TEST = { timeout: 120_000 };
const HAPROXY = "/usr/sbin/haproxy";
const BULK_PORT = 9000;

const ports = (extra: { listen: number; target: number }[] = []) => [
  { listen: 80, target: 80 },
  { listen: BULK_PORT, target: BULK_PORT },
  ...extra,
];

/** Rewrites the config with these ports and reloads the agent (SIGHUP); resolves once it logged the reload. */
async function reloadWith(lab: Lab, agent: AgentProcess, overrides: ConfigOverrides): Promise<void> {
  const before = agent.logs().filter((l) => l.msg === "configuration reloaded").length;
  await lab.writeConfig({ listener: { backend: "haproxy" }, ...overrides });
  agent.stop("SIGHUP");
  await waitFor(() => agent.logs().filter((l) => l.msg === "configuration reloaded").length > before, {
    timeoutMs: 10_000,
    message: () => `no reload\n${agent.tail()}`,
  });
}

/** The pid of the worker answering on our stats socket: a reload replaces it. */
const workerPid = async (lab: Lab) =>
  parseInfoPid(await runtimeCommand(join(lab.dir, "run", "haproxy", "stats.sock"), "show info"));

const haproxies = async (lab: Lab) => (await lab.processesIn("gw")).filter((p) => p.comm === "haproxy");

/** How often our master reloaded, from its CLI's `show proc` ("<pid> master <reloads> [failed: <n>] ..."). */
async function reloads(lab: Lab): Promise<number> {
  const text = await runtimeCommand(join(lab.dir, "run", "haproxy", "master.sock"), "show proc");
  const m = /^\d+\s+master\s+(\d+)/m.exec(text);
  if (m === null) throw new Error(`show proc: ${text}`);
  return Number(m[1]);
}

/** HAProxy masters in the gateway: haproxy processes whose parent is not one (workers are the masters' children). */
async function masters(lab: Lab): Promise<number[]> {
  const all = await haproxies(lab);
  const pids = new Set(all.map((p) => p.pid));
  return all.filter((p) => !pids.has(p.ppid)).map((p) => p.pid);
}

describe("haproxy backend", { skip: !statSync(HAPROXY, { throwIfNoEntry: false }) }, () => {
  it(
    "one HAProxy for every port; a download continues across a renumbering and a port added at run time",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      // A device port that streams without end to each connection (the agent's probes connect too), slowed to
      // 2 Mbit/s so the download lasts the whole test.
      await lab.execOk("dev", [
        "tc",
        "qdisc",
        "add",
        "dev",
        "eth0",
        "root",
        "tbf",
        "rate",
        "2mbit",
        "burst",
        "32kb",
        "latency",
        "400ms",
      ]);
      lab.spawn("dev", ["socat", "-u", "OPEN:/dev/zero", `TCP4-LISTEN:${BULK_PORT},reuseaddr,fork`], "bulk");
      const config = await lab.writeConfig({ ports: ports(), listener: { backend: "haproxy" } });
      const agent = lab.startAgent(config);
      await agent.waitPhase("serving", 20_000);
      await waitAnswers(lab, agent, 80, 80);
      const master = await lab.recordedPid("haproxy");
      assert.deepEqual(await masters(lab), [master], "one HAProxy");
      assert.deepEqual(await lab.socatListeners(), [], "no socat listener");

      const file = join(lab.dir, "download.bin");
      const download = lab.spawn(
        "cli",
        ["socat", "-u", `TCP6:[${lab.wanAddress}]:${BULK_PORT}`, `CREATE:${file}`],
        "download",
      );
      const size = () => statSync(file, { throwIfNoEntry: false })?.size ?? 0;
      /** The download is alive: the same client, and bytes keep arriving after `from`. */
      const grows = async (from: number, what: string) => {
        await waitFor(() => size() > from + 64 * 1024, {
          timeoutMs: 10_000,
          message: () => `the download stopped ${what} (${size()} bytes)\n${agent.tail()}`,
        });
        assert.equal(download.exitInfo, undefined, `the download's connection ended ${what}`);
      };
      await grows(0, "before any change");
      const first = await workerPid(lab);

      // Another port's target renumbered: a reload (a new worker), the download stays with the old one.
      await reloadWith(lab, agent, {
        ports: ports().map((p) => (p.listen === 80 ? { listen: 80, target: 23 } : p)),
      });
      await waitAnswers(lab, agent, 80, 23);
      const second = await workerPid(lab);
      assert.notEqual(second, first, "the renumbering reloaded HAProxy");
      await grows(size(), "across the renumbering");

      // A port added at run time.
      await reloadWith(lab, agent, { ports: ports([{ listen: 8080, target: 80 }]) });
      await waitAnswers(lab, agent, 8080, 80);
      const third = await workerPid(lab);
      assert.notEqual(third, second, "the added port reloaded HAProxy");
      await grows(size(), "across the added port");

      // A change that does not concern HAProxy leaves its worker as it is.
      await reloadWith(lab, agent, { ports: ports([{ listen: 8080, target: 80 }]), logLevel: "info" });
      await waitAnswers(lab, agent, 8080, 80);
      assert.equal(await workerPid(lab), third, "a logLevel change reloaded HAProxy");
      assert.deepEqual(await masters(lab), [master], "still the one HAProxy");
      await grows(size(), "at the end");
    },
  );

  it(
    "the listeners of one reconcile are applied by one load: 12 ports one start, 10 changed one reload",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      // More ports than the Reconciler's PARALLEL_STEPS: HAProxy takes every call of a phase at once.
      const twelve = (renumbered: number) =>
        Array.from({ length: 12 }, (_, i) => ({ listen: 8001 + i, target: i < renumbered ? 23 : 80 }));
      const config = await lab.writeConfig({ ports: twelve(0), listener: { backend: "haproxy" } });
      const agent = lab.startAgent(config);
      await agent.waitPhase("serving", 20_000);
      for (const { listen, target } of twelve(0)) await waitAnswers(lab, agent, listen, target);
      assert.equal(await reloads(lab), 0, "the first start took reloads");

      // Ten targets changed: each listener is replaced by its start alone, and the starts go together.
      await reloadWith(lab, agent, { ports: twelve(10) });
      for (const { listen, target } of twelve(10)) await waitAnswers(lab, agent, listen, target);
      assert.equal(await reloads(lab), 1);
      assert.equal(agent.logs().filter((l) => l.msg === "haproxy serves").length, 2, "one load per change");
    },
  );

  it(
    "a crash restarts it, connections are counted, a killed agent's HAProxy is stopped by the next, a foreign one survives",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      // Somebody else's HAProxy on the same gateway, master-worker like ours.
      const foreignConfig = await lab.writeRawConfig(
        [
          "defaults",
          "    mode tcp",
          "    timeout connect 1s",
          "    timeout client 1m",
          "    timeout server 1m",
          "listen foreign",
          "    bind [::1]:7000",
          "    server s 127.0.0.1:7001",
          "",
        ].join("\n"),
        "foreign.cfg",
      );
      const foreign = lab.spawn("gw", [HAPROXY, "-W", "-f", foreignConfig], "foreign-haproxy");
      await waitFor(async () => (await lab.listeningTcp("gw")).some((s) => s.port === 7000), {
        message: "the foreign haproxy did not listen",
      });
      const foreignWorkers = async () =>
        (await haproxies(lab)).filter((p) => p.ppid === foreign.pid).map((p) => p.pid);
      const foreignWorker = (await foreignWorkers())[0];
      assert.ok(foreignWorker !== undefined, "the foreign haproxy has a worker");

      const config = await lab.writeConfig({ listener: { backend: "haproxy" } });
      const agent = lab.startAgent(config);
      await agent.waitPhase("serving", 20_000);
      await waitAnswers(lab, agent, 80, 80);
      const first = await lab.recordedPid("haproxy");
      assert.deepEqual(
        (await agent.status()).listeners.map((l) => [l.listen, l.state, l.pid]),
        [
          [80, "running", first],
          [2323, "running", first],
        ],
      );

      // A crash: restarted, counted, serving again.
      process.kill(first, "SIGKILL");
      // Any phase: a health probe that ran while it was down leaves "degraded" until the next probe.
      const restarted = await waitFor(
        async () => {
          const s = await agent.status();
          return s.listeners.every((l) => l.state === "running" && l.restarts === 1 && l.pid !== first) && s;
        },
        { timeoutMs: 20_000, message: () => `not restarted\n${agent.tail()}` },
      );
      await waitAnswers(lab, agent, 80, 80);
      const second = restarted.listeners[0]?.pid ?? 0;
      assert.equal(await lab.recordedPid("haproxy"), second);

      // An open connection shows in the status, from HAProxy's own stats.
      const held = lab.spawn(
        "cli",
        ["socat", "-u", `TCP6:[${lab.wanAddress}]:2323`, "OPEN:/dev/null"],
        "held",
      );
      await waitFor(
        async () => (await agent.status()).listeners.find((l) => l.listen === 2323)?.connections === 1,
        { timeoutMs: 15_000, message: () => `the held connection was not counted\n${agent.tail()}` },
      );
      held.child.kill("SIGTERM");

      // The agent killed outright: its HAProxy is left, and the next agent stops it before starting its own.
      agent.stop("SIGKILL");
      await agent.waitExit(5_000);
      assert.ok(pidAlive(second), "a killed agent's haproxy is still there");
      const next = lab.startAgent(config);
      await next.waitPhase("serving", 20_000);
      await waitAnswers(lab, next, 80, 80);
      await waitFor(() => !pidAlive(second), { message: "the leftover haproxy was not stopped" });
      const third = await lab.recordedPid("haproxy");
      assert.notEqual(third, second);

      // A stop ends ours; the foreign master, its worker and its port are untouched throughout.
      next.stop("SIGTERM");
      assert.ok((await next.waitExit(10_000)) !== undefined, "the agent did not stop");
      assert.ok(!pidAlive(third), "our haproxy outlived the agent's stop");
      assert.ok(pidAlive(foreign.pid) && foreign.exitInfo === undefined, "the foreign haproxy was stopped");
      assert.deepEqual(await foreignWorkers(), [foreignWorker], "the foreign worker was replaced or stopped");
      assert.ok(
        (await lab.listeningTcp("gw")).some((s) => s.port === 7000),
        "the foreign port is gone",
      );
    },
  );
});
