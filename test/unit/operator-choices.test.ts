// The operator's saved choices as every reader takes them: the agent at start, `sixgate plan` and doctor all go
// through loadOperatorChoices, so they agree; saved ports outside allowedTargets are refused at start.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { observePlan } from "../../src/cli/inspect.js";
import type { Config } from "../../src/config/schema.js";
import { gather } from "../../src/doctor/gather.js";
import type { Runner } from "../../src/effects/exec.js";
import { loadOperatorChoices } from "../../src/effects/state-store.js";
import { makeConfig } from "./fixtures.js";
import { recordingLogger } from "../hotplug/helpers.js";

const quiet = pino({ level: "silent" });

const ADDR = JSON.stringify([
  {
    ifname: "wan0",
    flags: ["UP", "LOWER_UP"],
    addr_info: [{ family: "inet6", local: "2001:db8:1::1", prefixlen: 64, scope: "global" }],
  },
  {
    ifname: "lan0",
    flags: ["UP", "LOWER_UP"],
    addr_info: [{ family: "inet", local: "192.168.1.1", prefixlen: 24, scope: "global" }],
  },
]);

/** Answers `ip -json addr show`; every other command fails, as on a host without the rest. */
const runner: Runner = {
  run: (argv) =>
    Promise.resolve(
      argv.join(" ") === "ip -json addr show"
        ? { exitCode: 0, stdout: ADDR, stderr: "" }
        : { exitCode: 1, stdout: "", stderr: "not here" },
    ),
  spawn() {
    throw new Error("never spawns");
  },
};

/** A gateway directory with a lease for the device and the given state.json (none when undefined). */
async function gateway(
  t: { after: (fn: () => Promise<void>) => void },
  saved: unknown,
  overrides: Record<string, unknown> = {},
): Promise<Config> {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-choices-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const leases = join(dir, "dhcp.leases");
  await writeFile(leases, "0 02:00:00:00:01:00 192.168.1.100 dev *\n");
  const stateDir = join(dir, "state");
  await mkdir(stateDir);
  if (saved !== undefined) await writeFile(join(stateDir, "state.json"), JSON.stringify(saved));
  return makeConfig({
    device: { mac: "02:00:00:00:01:00", leases },
    runtimeDir: join(dir, "run"),
    stateDir,
    ...overrides,
  });
}

/** What `sixgate plan` would serve, and what doctor assumes should be served, as "listen->target" lists. */
async function planAndDoctor(config: Config): Promise<{ plan: string[]; doctor: string[] }> {
  const show = (ls: { listen: number; target: number }[]) => ls.map((l) => `${l.listen}->${l.target}`);
  const plan = await observePlan(config, runner, quiet);
  const doctor = await gather(config, {
    runner,
    log: quiet,
    connect: () => Promise.resolve({ ok: false, ms: 1, error: "not probed" }),
  });
  return { plan: show(plan.desired.listeners), doctor: show(doctor.plan.desired.listeners) };
}

test("plan and doctor both serve the operator's saved run-time ports", async (t) => {
  const config = await gateway(t, { enabled: true, ports: [{ listen: 8080, target: 80 }] });
  assert.deepEqual(await planAndDoctor(config), { plan: ["8080->80"], doctor: ["8080->80"] });
});

test("plan and doctor both serve nothing when the operator disabled the proxy", async (t) => {
  const config = await gateway(t, { enabled: false, ports: null });
  assert.deepEqual(await planAndDoctor(config), { plan: [], doctor: [] });
  assert.equal((await observePlan(config, runner, quiet)).detail, "disabled");
});

test("saved ports outside allowedTargets are refused at start, with an error naming the port", async (t) => {
  const saved = { enabled: false, ports: [{ listen: 2222, target: 22 }] };
  const config = await gateway(t, saved, { allowedTargets: [80, "8000-8010"] });
  const { log, records: lines } = recordingLogger();
  assert.deepEqual(await loadOperatorChoices(config, log), { device: { enabled: false, ports: undefined } });
  assert.match(
    String(lines.find((l) => l.level === 50)?.error),
    /ports\.0\.target: port 22 is outside allowedTargets \(80, 8000-8010\)/,
  );
  // Every reader falls back the same way: the config file's ports.
  assert.deepEqual(
    await planAndDoctor(await gateway(t, { ...saved, enabled: true }, { allowedTargets: [80] })),
    {
      plan: ["80->80", "2323->23"],
      doctor: ["80->80", "2323->23"],
    },
  );
});

test("without allowedTargets, saved ports may use only the config file's own targets", async (t) => {
  const inside = { enabled: true, ports: [{ listen: 8023, target: 23 }] };
  assert.deepEqual(await loadOperatorChoices(await gateway(t, inside), quiet), { device: inside });
  const outside = { enabled: true, ports: [{ listen: 8443, target: 443 }] };
  const { log, records: lines } = recordingLogger();
  assert.deepEqual(await loadOperatorChoices(await gateway(t, outside), log), {
    device: { enabled: true, ports: undefined },
  });
  assert.match(
    String(lines.find((l) => l.level === 50)?.error),
    /ports\.0\.target: port 443 is not one of the config file's target ports \(80, 23\)/,
  );
});

test("saved ports taking another device's listen port are refused at start, with an error naming the port", async (t) => {
  // cam's dashboard moved it to 8080 (free then); the file has since given 8080 to nas. Both cannot bind it.
  const saved = { devices: { cam: { enabled: true, ports: [{ listen: 8080, target: 80 }] } } };
  const config = await gateway(t, saved, {
    device: undefined,
    ports: undefined,
    devices: [
      { name: "cam", address: "192.168.1.100", ports: [{ listen: 80, target: 80 }] },
      { name: "nas", address: "192.168.1.60", ports: [{ listen: 8080, target: 80 }] },
    ],
  });
  const { log, records: lines } = recordingLogger();
  assert.deepEqual(await loadOperatorChoices(config, log), { cam: { enabled: true, ports: undefined } });
  const error = lines.find((l) => l.level === 50);
  assert.ok(error !== undefined, "an error is logged");
  assert.equal(error.device, "cam");
  assert.match(String(error.error), /listen port 8080 is also devices\.0's \(cam\)/);
  assert.match(error.msg, /another device's listen port/);
  // plan and doctor serve what the agent serves: the file's ports, 8080 once.
  assert.deepEqual(await planAndDoctor(config), {
    plan: ["80->80", "8080->80"],
    doctor: ["80->80", "8080->80"],
  });
  // A saved mapping on a free port stays.
  const free = { devices: { cam: { enabled: true, ports: [{ listen: 8081, target: 80 }] } } };
  const fine = await gateway(t, free, {
    device: undefined,
    ports: undefined,
    devices: config.devices,
  });
  assert.deepEqual(await loadOperatorChoices(fine, quiet), free.devices);
});
