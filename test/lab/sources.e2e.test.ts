// The agent's sources and its process life, end to end: what it sees when an event is lost, and which signals
// it survives while starting. The built agent runs in the lab's gateway namespace (see agent.e2e.test.ts).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, readlink, mkdir, symlink } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import {
  DEFAULT_PORTS,
  createLabFor,
  runOk,
  signalPid,
  waitFor,
  waitServes,
  statusSchema,
  type AgentStatus,
  type ConfigOverrides,
  type Lab,
} from "./lab.js";

const TEST = { timeout: 90_000 };
/**
 * A health tick every two seconds: "within one tick" is then within TICK_MS (plus the reconcile). Short probes, so
 * that a tick probing a device that just moved ends before the next one is due (a running tick skips the next).
 */
const TICK = { health: { schedule: "*/2 * * * * *", timeoutMs: 500 } };
const TICK_MS = 2_000;
const FIRST_LISTEN = DEFAULT_PORTS[0].listen;
const RECONCILE_MARGIN_MS = 2_500;

async function startServing(t: TestContext, overrides: ConfigOverrides, name?: string) {
  const lab = await createLabFor(t);
  const config = await lab.writeConfig(overrides, name);
  const agent = lab.startAgent(config);
  await agent.waitPhase("serving", 15_000);
  return { lab, agent, config };
}

/** The agent's status file as it stands. */
async function statusFile(lab: Lab): Promise<AgentStatus> {
  return statusSchema.parse(JSON.parse(await readFile(join(lab.dir, "run", "status.json"), "utf8")));
}

describe("sources: nothing stays stale", () => {
  it(
    "a renumbering whose netlink events are lost (ip monitor stopped) is served within one health tick",
    TEST,
    async (t) => {
      const { lab, agent } = await startServing(t, TICK);
      const monitor = await lab.recordedPid("ip-monitor");
      signalPid(monitor, "SIGSTOP");
      // Continued before the lab stops the agent: a stopped process would hold its SIGTERM.
      t.after(() => signalPid(monitor, "SIGCONT"));
      const started = Date.now();
      await lab.renumberWan("2001:db8:1::20");
      await waitServes(lab, agent, FIRST_LISTEN, "2001:db8:1::20", TICK_MS + RECONCILE_MARGIN_MS);
      t.diagnostic(`served the new address ${Date.now() - started} ms after the unseen renumbering`);
      assert.equal((await agent.status()).wan.address, "2001:db8:1::20");
      assert.ok(agent.running);
    },
  );

  it(
    "a new lease the file watch does not see (and no hook reports) is followed within one health tick",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      // The agent reads the lease file through a symlink in a directory of its own: the directory it watches never
      // changes, so dnsmasq's rewrites go unseen. The config's name keeps the lab's DHCP hook (which notifies the
      // agent of config.yaml) away from this agent.
      const watched = join(lab.dir, "watched");
      await mkdir(watched);
      await symlink(lab.leaseFile, join(watched, "dhcp.leases"));
      const config = await lab.writeConfig(
        { ...TICK, device: { leases: join(watched, "dhcp.leases") } },
        "unhooked.yaml",
      );
      const agent = lab.startAgent(config);
      await agent.waitPhase("serving", 15_000);
      const before = await lab.deviceAddress();
      const wanted = before === "192.168.1.140" ? "192.168.1.141" : "192.168.1.140";
      await lab.newDeviceLease(wanted);
      const started = Date.now();
      // What the agent knows (its status file, read directly: the CLI alone takes a good part of a second). The
      // phase may stay degraded until the next probe passes, so it is not the measure here; serving clients is.
      await waitFor(async () => (await statusFile(lab)).device.address === wanted, {
        timeoutMs: TICK_MS + RECONCILE_MARGIN_MS,
        intervalMs: 20,
        message: () => agent.tail(),
      });
      t.diagnostic(`followed the unseen lease ${Date.now() - started} ms after it was written`);
      await waitServes(lab, agent, FIRST_LISTEN, lab.wanAddress, 3_000);
    },
  );
});

describe("process life", () => {
  it("a SIGHUP while the agent is starting is a reload, not its end", TEST, async (t) => {
    const lab = await createLabFor(t);
    const config = await lab.writeConfig();
    const agent = lab.startAgent(config);
    // The pid file is written at the start of start-up, long before the agent serves.
    const pidFile = join(lab.dir, "run", "agent.pid");
    await waitFor(async () => (await readFile(pidFile, "utf8").catch(() => "")) !== "", {
      timeoutMs: 15_000,
      intervalMs: 5,
      message: () => agent.tail(),
    });
    // Deterministic part: by now SIGHUP is caught (SigCgt bit 0), whenever the signal below happens to land.
    const sigCgt = /^SigCgt:\s*([0-9a-f]+)$/m.exec(await readFile(`/proc/${agent.pid}/status`, "utf8"))?.[1];
    assert.equal(BigInt(`0x${sigCgt ?? "0"}`) & 1n, 1n, "SIGHUP is caught before start-up ends");
    signalPid(agent.pid, "SIGHUP");
    const status = await agent.waitPhase("serving", 15_000);
    assert.equal(status.pid, agent.pid);
    assert.ok(agent.running, `the agent died of the SIGHUP\n${agent.tail()}`);
    await waitFor(() => agent.logs().some((l) => l.msg === "configuration reloaded"), {
      timeoutMs: 5_000,
      message: () => `the held SIGHUP was not served as a reload\n${agent.tail()}`,
    });
  });
});

/** Appends to the file named by argv[1] until the file system is full, and again whenever a page is freed. */
const FILL_FOREVER = `
const fs = require("node:fs");
const page = Buffer.alloc(4096);
const fill = () => { try { for (;;) fs.appendFileSync(process.argv[1], page); } catch {} };
setInterval(fill, 5);
`;

describe("a full runtime directory", () => {
  it(
    "the agent keeps serving, restarts its ip monitor, and its status names the problem",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      // A mount namespace of the test's own, held by a sleeping process: the tiny tmpfs exists only in there.
      const holder = spawn("unshare", ["--mount", "--propagation", "private", "--", "sleep", "300"], {
        stdio: "ignore",
      });
      const holderPid = holder.pid;
      assert.ok(holderPid !== undefined);
      t.after(() => holder.kill("SIGKILL"));
      const ownNs = await readlink("/proc/self/ns/mnt");
      await waitFor(async () => (await readlink(`/proc/${holderPid}/ns/mnt`).catch(() => ownNs)) !== ownNs, {
        timeoutMs: 5_000,
      });
      const inNs = ["nsenter", "-t", String(holderPid), "-m", "--"];
      const runDir = join(lab.dir, "tiny-run");
      await mkdir(runDir);
      await runOk([...inNs, "mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "sixgate-test", runDir]);
      const config = await lab.writeConfig({
        health: { schedule: TICK.health.schedule },
        runtimeDir: runDir,
      });
      const agent = lab.startAgent(config, [], inNs);
      // The status file read directly (in the namespace): the CLI is slow on a loaded machine.
      const statusNow = async () =>
        statusSchema.parse(JSON.parse((await runOk([...inNs, "cat", join(runDir, "status.json")])).stdout));
      await waitFor(async () => (await statusNow()).phase === "serving", {
        timeoutMs: 30_000,
        message: () => agent.tail(),
      });
      const monitorBefore = JSON.parse(
        (await runOk([...inNs, "cat", join(runDir, "pids", "ip-monitor.json")])).stdout,
      ) as {
        pid: number;
      };

      // Keep it full: a process in there takes every page as soon as one is free (a removed pid record's too).
      const filler = spawn(
        inNs[0] ?? "nsenter",
        [...inNs.slice(1), process.execPath, "-e", FILL_FOREVER, join(runDir, "filler")],
        { stdio: "ignore" },
      );
      t.after(() => filler.kill("SIGKILL"));
      // The ip monitor dies; its successor's pid record cannot be written (the old code crashed right here).
      signalPid(monitorBefore.pid, "SIGKILL");
      let last: AgentStatus | undefined;
      const full = await waitFor(
        async () => {
          const s = await statusNow();
          last = s;
          return (s.problems ?? []).some((p) => /status\.json.*ENOSPC/.test(p)) ? s : undefined;
        },
        { timeoutMs: 10_000, message: () => `last status: ${JSON.stringify(last)}\n${agent.tail()}` },
      );
      // Whether the new monitor's record found no room depends on who takes the freed page first: shown, not required.
      t.diagnostic(`problems: ${JSON.stringify(full.problems)}; reason: ${full.reason ?? ""}`);
      assert.ok(agent.running, agent.tail());
      // Still serving, and still following the network (the restarted monitor, or the next tick, sees this).
      await lab.renumberWan("2001:db8:1::30");
      await waitServes(lab, agent, FIRST_LISTEN, "2001:db8:1::30", TICK_MS + RECONCILE_MARGIN_MS);
      assert.ok(agent.running, agent.tail());

      // Room again: the next write clears the status file's problem.
      filler.kill("SIGKILL");
      await waitFor(() => filler.exitCode !== null || filler.signalCode !== null, { timeoutMs: 5_000 });
      await runOk([...inNs, "rm", join(runDir, "filler")]);
      await waitFor(async () => !(await statusNow()).problems?.some((p) => /status\.json/.test(p)), {
        timeoutMs: TICK_MS + RECONCILE_MARGIN_MS,
        message: () => agent.tail(),
      });
    },
  );
});
