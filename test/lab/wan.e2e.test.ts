// The WAN address choice in the lab: better evidence wins while the agent runs, `sixgate plan` gives the agent's
// answer, and a prefix-delegation-only uplink serves from the address on the LAN side.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkOf, describeReport, runDoctor } from "./doctor-helpers.js";
import {
  DEFAULT_PORTS,
  LAN_ADDRESS,
  cliArgv,
  createLabFor,
  run,
  waitFor,
  sleep,
  type AgentProcess,
  type Lab,
} from "./lab.js";

const TEST = { timeout: 120_000 };
const PORTS = DEFAULT_PORTS.map((p) => p.listen);

/** The addresses `sixgate plan` would bind the listeners to (one per listener line). */
async function planBinds(lab: Lab, config: string): Promise<string[]> {
  const r = await run(cliArgv(lab.ns.gw, ["plan", "--config", config]), { timeoutMs: 15_000 });
  assert.equal(r.exitCode, 0, `plan failed: ${r.stderr}`);
  return [...r.stdout.matchAll(/TCP6-LISTEN:\d+,bind=\[([^\]]+)\]/g)].map((m) => m[1] ?? "");
}

/** Asserts that every listener `plan` prints binds the address the agent serves on. */
async function assertPlanAgrees(lab: Lab, agent: AgentProcess, config: string): Promise<string> {
  const served = (await agent.status()).wan.address;
  assert.ok(served, "the agent serves on no address");
  assert.deepEqual(
    await planBinds(lab, config),
    PORTS.map(() => served),
    "sixgate plan and the agent disagree",
  );
  return served;
}

/**
 * Returns once the agent has finished an interface snapshot taken after every change made so far. The marker (an
 * address on the gateway's loopback, which no choice looks at) is added after those changes; the snapshot it
 * triggers starts after it, and the agent logs each command at its end with the time it took.
 */
async function settled(lab: Lab, agent: AgentProcess, marker: string): Promise<void> {
  const since = Date.now();
  await lab.ipOk("gw", ["addr", "add", `${marker}/128`, "dev", "lo"]);
  await waitFor(
    () =>
      agent.logs().some((r) => {
        const argv = r.argv;
        return (
          r.msg === "command" &&
          Array.isArray(argv) &&
          argv.join(" ") === "ip -json addr show" &&
          typeof r.time === "number" &&
          typeof r.ms === "number" &&
          r.time - r.ms >= since
        );
      }),
    { timeoutMs: 10_000, message: () => `no snapshot after the change\n${agent.tail()}` },
  );
}

/** Waits until a client gets the device's answer on every port at `address`. */
async function waitServesAll(lab: Lab, agent: AgentProcess, address: string): Promise<void> {
  for (const listen of PORTS) {
    let last = "";
    await waitFor(
      async () => {
        const r = await lab.curl6(listen, address);
        last = `exit ${String(r.exitCode)} ${r.stderr.trim()}`;
        return r.ok && r.answer?.remote === LAN_ADDRESS;
      },
      { timeoutMs: 10_000, message: () => `[${address}]:${listen} did not serve: ${last}\n${agent.tail()}` },
    );
  }
}

const listenerPids = async (agent: AgentProcess) => (await agent.status()).listeners.map((l) => l.pid);

describe("WAN address choice in the lab", () => {
  it(
    "a ULA chosen first gives way to a global address; equals do not move it; plan agrees all along",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      // Only a ULA on the WAN at first; the client is on the same ULA network.
      await lab.delWanAddress(lab.wanAddress);
      await lab.addWanAddress("fd00:db8:1::1");
      await lab.ipOk("cli", ["addr", "add", "fd00:db8:1::2/64", "dev", "eth0", "nodad"]);
      const config = await lab.writeConfig();
      const agent = lab.startAgent(config);
      await agent.waitPhase("serving", 15_000, (s) => s.wan.address === "fd00:db8:1::1");
      await waitServesAll(lab, agent, "fd00:db8:1::1");
      assert.equal(await assertPlanAgrees(lab, agent, config), "fd00:db8:1::1");

      // A global address arrives beside it: better evidence, taken at once.
      await lab.addWanAddress("2001:db8:1::10");
      await agent.waitPhase("serving", 10_000, (s) => s.wan.address === "2001:db8:1::10");
      await waitServesAll(lab, agent, "2001:db8:1::10");
      assert.equal(await assertPlanAgrees(lab, agent, config), "2001:db8:1::10");

      // A second global address, numerically lower: an equal, so the listeners stay where they are, and plan
      // (starting from the agent's address) says the same.
      const pids = await listenerPids(agent);
      await lab.addWanAddress("2001:db8:1::5");
      await settled(lab, agent, "fd00:ffff::1");
      assert.equal(await assertPlanAgrees(lab, agent, config), "2001:db8:1::10");
      assert.deepEqual(await listenerPids(agent), pids, "an equal address restarted the listeners");
    },
  );

  it(
    "a literal address deprecated on purpose (preferred_lft 0, valid forever) is served, and doctor is content",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      const service = "2001:db8:1::53";
      await lab.ipOk("gw", ["addr", "add", `${service}/64`, "dev", "wan0", "nodad", "preferred_lft", "0"]);
      assert.equal((await lab.wanAddresses()).find((a) => a.address === service)?.deprecated, true);
      const config = await lab.writeConfig({ wan: { address: service } });
      const agent = lab.startAgent(config);
      await agent.waitPhase("serving", 15_000, (s) => s.wan.address === service);
      await waitServesAll(lab, agent, service);
      const { report } = await runDoctor(lab, config);
      const c = checkOf(report, "wan-address");
      assert.equal(c.status, "ok", describeReport(report));
      assert.match(c.detail, /deprecated on purpose/);
      assert.doesNotMatch(`${c.detail} ${c.fix ?? ""}`, /upstream/);
    },
  );

  it(
    "a prefix-delegation-only uplink: doctor names wan.addressFrom, then the agent serves the LAN-side address",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      // The uplink keeps only its link-local address; the delegated prefix's address lives on lan0.
      const pd = "2001:db8:1:100::1";
      await lab.delWanAddress(lab.wanAddress);
      await lab.ipOk("gw", ["-6", "route", "add", "2001:db8:1::/64", "dev", "wan0"]);
      await lab.ipOk("gw", ["addr", "add", `${pd}/64`, "dev", "lan0", "nodad"]);
      const gwLinkLocal = await waitFor(
        async () => {
          const r = await lab.ipOk("gw", ["-j", "-6", "addr", "show", "dev", "wan0", "scope", "link"]);
          const links = JSON.parse(r.stdout || "[]") as {
            addr_info?: { local?: string; tentative?: boolean }[];
          }[];
          const a = links[0]?.addr_info?.find((x) => x.local !== undefined && x.tentative !== true);
          return a?.local;
        },
        { timeoutMs: 5_000 },
      );
      assert.deepEqual(
        (await lab.wanAddresses()).map((a) => a.address),
        [],
        "the uplink has no global address",
      );
      // The upstream's route to the delegated prefix (a down link loses it, so it is set again after a cable pull).
      const routeToPrefix = () =>
        lab.ipOk("cli", ["-6", "route", "replace", "2001:db8:1:100::/64", "via", gwLinkLocal, "dev", "eth0"]);
      await routeToPrefix();

      // Before: doctor recognises the situation and advises the setting, not adding the address to the uplink.
      const before = await lab.writeConfig({}, "before.yaml");
      const { report } = await runDoctor(lab, before);
      const advice = checkOf(report, "wan-address");
      assert.equal(advice.status, "fail", describeReport(report));
      assert.match(
        advice.detail,
        /wan0 has no global IPv6 address \(only link-local .*\), but lan0 holds 2001:db8:1:100::1/,
      );
      assert.match(advice.fix ?? "", /set wan\.addressFrom: lan0/);

      const config = await lab.writeConfig({ wan: { addressFrom: "lan0" } });
      const agent = lab.startAgent(config);
      await agent.waitPhase("serving", 15_000, (s) => s.wan.address === pd);
      await waitServesAll(lab, agent, pd);
      assert.equal(await assertPlanAgrees(lab, agent, config), pd);
      const after = await runDoctor(lab, config);
      assert.equal(checkOf(after.report, "wan-address").status, "ok", describeReport(after.report));

      // The uplink's carrier still decides: a pulled WAN cable means waiting for wan-link.
      await lab.setWanCable(false);
      await agent.waitPhase("waiting", 10_000, (s) => s.waitingFor === "wan-link");
      await lab.setWanCable(true);
      await routeToPrefix();
      await agent.waitPhase("serving", 10_000);
      await waitServesAll(lab, agent, pd);
    },
  );

  it(
    "a WAN cable bouncing for ten seconds: a bounded number of socat spawns, then serving once steady",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      const config = await lab.writeConfig();
      const agent = lab.startAgent(config);
      await agent.waitPhase("serving", 15_000);
      await waitServesAll(lab, agent, lab.wanAddress);
      const spawns = () =>
        agent.logs().filter((r) => {
          const argv = r.argv;
          return (
            r.msg === "spawned" &&
            Array.isArray(argv) &&
            argv[0] === "socat" &&
            argv.join(" ").includes("TCP6-LISTEN")
          );
        }).length;
      const before = spawns();
      // The cable is pulled and put back every 800 ms for about ten seconds: slow enough that an undamped agent
      // restarts the listeners at each bounce (the fault: 24 spawns here), 12 carrier losses seen by wan0.
      const bounces = 12;
      for (let i = 0; i < bounces; i++) {
        await lab.ipOk("cli", ["link", "set", "eth0", "down"]);
        await sleep(400);
        await lab.ipOk("cli", ["link", "set", "eth0", "up"]);
        await sleep(400);
      }
      await waitFor(() => lab.wanHasCarrier(), { timeoutMs: 5_000 });
      const held = await agent.status();
      const settledStatus = await agent.waitPhase(
        "serving",
        30_000,
        (s) => s.flaps?.wan0?.heldDown === false,
      );
      await waitServesAll(lab, agent, lab.wanAddress);
      const spawned = spawns() - before;
      t.diagnostic(
        `${bounces} bounces: ${spawned} socat spawns for ${PORTS.length} ports; wan0 flaps ${settledStatus.flaps?.wan0?.flaps}`,
      );
      // flapDamping defaults: held down at the third flap, so at most 3 restarts per port, then one start.
      assert.ok(
        spawned <= PORTS.length * 4,
        `${spawned} socat spawns for ${bounces} bounces\n${agent.tail()}`,
      );
      assert.equal(held.flaps?.wan0?.heldDown, true, "held down right after the bounce");
      assert.ok((settledStatus.flaps?.wan0?.flaps ?? 0) >= 3, "flaps counted in status");
    },
  );
});

describe("sixgate plan with several devices", () => {
  it(
    "names each device and what it waits for, and prints what the chosen backend would load",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      const cam = { name: "cam", address: "192.168.1.100", ports: [{ listen: 8080, target: 80 }] };
      const printer = { name: "printer", mac: "02:00:00:00:09:09", ports: [{ listen: 9100, target: 9100 }] };
      const devices = [cam, printer];
      const base = { device: undefined, ports: undefined, devices };
      const socat = await run(
        cliArgv(lab.ns.gw, ["plan", "--config", await lab.writeConfig(base, "socat.yaml")]),
        {
          timeoutMs: 15_000,
        },
      );
      assert.equal(socat.exitCode, 0, socat.stderr);
      assert.match(socat.stdout, /^# device cam: 192\.168\.1\.100, 1 listeners$/m);
      assert.match(
        socat.stdout,
        /^# device printer: unknown \(02:00:00:00:09:09\), 0 listeners: waiting for its address/m,
      );
      assert.equal([...socat.stdout.matchAll(/TCP6-LISTEN:8080,/g)].length, 1, socat.stdout);
      assert.doesNotMatch(socat.stdout, /TCP6-LISTEN:9100/);
      assert.equal([...socat.stdout.matchAll(/ snat to /g)].length, 1, "one rule: only cam has an address");

      const haproxy = await run(
        cliArgv(lab.ns.gw, [
          "plan",
          "--config",
          await lab.writeConfig({ ...base, listener: { backend: "haproxy" } }, "haproxy.yaml"),
        ]),
        { timeoutMs: 15_000 },
      );
      assert.equal(haproxy.exitCode, 0, haproxy.stderr);
      assert.match(haproxy.stdout, /^# listeners \(1, haproxy\)$/m);
      assert.match(haproxy.stdout, /^listen \S+$/m, haproxy.stdout);
      assert.match(haproxy.stdout, /server device 192\.168\.1\.100:80 source 192\.168\.1\.1 interface lan0/);
      assert.doesNotMatch(haproxy.stdout, /TCP6-LISTEN/, "no socat lines for the haproxy backend");
    },
  );
});
