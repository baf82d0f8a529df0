// The agent's tools, as an operator meets them: BusyBox's real `ip` first on PATH (a symlink to /bin/busybox in a
// directory of the test's own). `sixgate run` and `plan` refuse with exit 69 and the package to install, doctor's
// tools check says the same, and an ip replaced under a serving agent becomes its status reason.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { stringify } from "yaml";
import { AGENT_CLI, createLabFor, randomId, run, runOk, signalPid, statusSchema, waitFor } from "./lab.js";

const TEST = { timeout: 90_000 };
const BUSYBOX = "/bin/busybox";
/** iproute2's ip, as the machine has it. */
const IPROUTE2 = "/bin/ip";
/** What the agent says about BusyBox's ip, and the advice. */
const ADVICE =
  /ip: does not support -json \(this is BusyBox's ip\) and has no monitor command \(this is BusyBox's ip\); install iproute2 \(Debian\) or ip-full \(OpenWrt\)/;
/** The refusal must come at once; the old agent sat in `starting` for ever instead. */
const REFUSAL_BOUND_MS = 15_000;

/** A directory whose `ip` is `target`, to put first on PATH; `point` swaps it atomically. */
async function ipDir(t: TestContext, target: string) {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-preflight-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const bin = join(dir, "bin");
  await mkdir(bin);
  const point = async (to: string) => {
    const next = join(dir, `ip-${randomId()}`);
    await symlink(to, next);
    await rename(next, join(bin, "ip"));
  };
  await point(target);
  return { dir, path: `${bin}:${process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`, point };
}

/** A bare network namespace of the test's own: nothing the agent could touch outside it. */
async function bareNetns(t: TestContext): Promise<string> {
  const name = `sgpf${randomId()}`;
  await runOk(["ip", "netns", "add", name]);
  t.after(() => runOk(["ip", "netns", "del", name]).then(() => undefined));
  return name;
}

/** `sixgate ARGS` in the namespace with PATH set (the namespace is entered with the test's own, real ip). */
function sixgate(ns: string, path: string, args: readonly string[]) {
  return run(["ip", "netns", "exec", ns, "env", `PATH=${path}`, process.execPath, AGENT_CLI, ...args], {
    timeoutMs: REFUSAL_BOUND_MS,
  });
}

describe("preflight: BusyBox's ip first on PATH", () => {
  it(
    "sixgate run exits 69 at once naming ip and the package; plan refuses the same way; doctor agrees",
    TEST,
    async (t) => {
      assert.ok(existsSync(BUSYBOX), "busybox is installed (scripts/install-deps.sh)");
      assert.ok(existsSync(AGENT_CLI), `${AGENT_CLI} is missing: run "npm run build" first`);
      const ns = await bareNetns(t);
      const { dir, path } = await ipDir(t, BUSYBOX);
      const config = join(dir, "config.yaml");
      await writeFile(
        config,
        stringify({
          wan: { interface: "wan0" },
          lan: { interface: "lan0", address: "192.168.1.1" },
          device: { address: "192.168.1.100", leases: join(dir, "leases") },
          ports: [{ listen: 8080, target: 80 }],
          runtimeDir: join(dir, "run"),
          stateDir: join(dir, "state"),
        }),
      );

      const started = Date.now();
      const agent = await sixgate(ns, path, ["run", "--config", config]);
      const tookMs = Date.now() - started;
      assert.equal(
        agent.timedOut,
        false,
        `the agent did not exit within ${REFUSAL_BOUND_MS} ms: ${agent.stdout}`,
      );
      assert.equal(agent.exitCode, 69, agent.stderr);
      assert.match(agent.stderr, ADVICE);
      assert.ok(!existsSync(join(dir, "run", "sixgate.pid")), "refused before anything was written");
      t.diagnostic(`sixgate run refused in ${tookMs} ms`);

      const plan = await sixgate(ns, path, ["plan", "--config", config]);
      assert.equal(plan.exitCode, 69, plan.stderr);
      assert.match(plan.stderr, ADVICE);
      assert.doesNotMatch(
        `${plan.stdout}${plan.stderr}`,
        /Usage: ip \[OPTIONS\]/,
        "not BusyBox's usage text",
      );

      const doctor = await sixgate(ns, path, ["doctor", "--json", "--config", config]);
      assert.equal(doctor.exitCode, 1, doctor.stderr);
      const report = JSON.parse(doctor.stdout) as {
        firstFailure: string | null;
        checks: { id: string; status: string; detail: string; fix?: string }[];
      };
      const tools = report.checks.find((c) => c.id === "tools");
      assert.equal(tools?.status, "fail", doctor.stdout);
      assert.match(tools.detail, ADVICE, "in the words of sixgate run");
      assert.match(tools.fix ?? "", /install iproute2 \(Debian\) or ip-full \(OpenWrt\)/);
      assert.equal(report.firstFailure, "tools", "the first failure to start with");
    },
  );

  it(
    "ip replaced by BusyBox's under a serving agent: its status names ip and the package",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      const { path, point } = await ipDir(t, IPROUTE2);
      const config = await lab.writeConfig();
      // env sets PATH before `ip netns exec` (still iproute2's here), and the agent inherits it.
      const agent = lab.startAgent(config, [], ["env", `PATH=${path}`]);
      await agent.waitPhase("serving", 15_000);

      await point(BUSYBOX);
      // Its `ip monitor` dies (as after an upgrade that swapped the package), and every restart of it is BusyBox's.
      const record = JSON.parse(await readFile(join(lab.dir, "run", "pids", "ip-monitor.json"), "utf8")) as {
        pid: number;
      };
      signalPid(record.pid, "SIGKILL");
      // Read from the status file: `sixgate status` through the swapped PATH would itself meet BusyBox's ip.
      // The monitor killed, then each BusyBox restart exiting 1: the latest exit is the one named.
      const wanted = [/^ip -o monitor exited \(.*\); restarting it: /, /^cannot read interfaces: /];
      const status = await waitFor(
        async () => {
          const s = statusSchema.parse(
            JSON.parse(await readFile(join(lab.dir, "run", "status.json"), "utf8")),
          );
          const problems = s.problems ?? [];
          const named = wanted.every((re) => problems.some((p) => re.test(p) && ADVICE.test(p)));
          return named && ADVICE.test(s.reason ?? "") ? s : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 100, message: () => agent.tail() },
      );
      t.diagnostic(`reason: ${status.reason ?? ""}`);
      assert.ok(agent.running, "the agent keeps running on what it knew");
    },
  );
});
