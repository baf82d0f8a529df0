// The pipeline with fake adapters and Subject-backed sources.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Subject } from "rxjs";
import { pino } from "pino";
import { Agent } from "../../src/agent.js";
import type { Event } from "../../src/core/types.js";
import { FakeAddresses, FakeFirewall, FakeListeners } from "../fakes/adapters.js";
import { addr, lease, link, makeConfig } from "./fixtures.js";
import { setup, sleep, until } from "./agent-harness.js";

const log = pino({ level: "silent" });

test("first facts lead to SNAT and listeners; status says serving", async (t) => {
  const { agent, leases, firewall, listeners, snapshot } = setup();
  t.after(() => agent.stop());
  assert.equal(agent.status().phase, "starting");
  snapshot(link("wan0", [addr("2001:db8:1::1")]));
  leases.next({ type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.100")] });
  await until(() => agent.status().phase === "serving", "serving");
  assert.equal(firewall.rule?.deviceAddress, "192.168.1.100");
  assert.deepEqual([...listeners.running.keys()].sort(), ["device/2323", "device/80"]);
  const s = agent.status();
  assert.equal(s.wan.address, "2001:db8:1::1");
  assert.equal(s.device.mac, "02:00:00:00:01:00");
  assert.equal(s.firewall.matchesPlan, true);
});

test("a burst of hundreds of snapshots ends in one more reconcile at most, never two at once", async (t) => {
  const { agent, leases, firewall, listeners, snapshot } = setup({ debounceMs: 100 });
  t.after(() => agent.stop());
  listeners.startDelayMs = 5;
  snapshot(link("wan0", [addr("2001:db8:1::1")]));
  leases.next({ type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.100")] });
  await until(() => agent.status().phase === "serving", "serving");
  const before = listeners.calls.length;
  for (let i = 0; i < 300; i++) {
    const extra =
      i % 2 === 0 ? [addr("2001:db8:1::1"), addr(`2001:db8:1::${(i % 50) + 100}`)] : [addr("2001:db8:1::1")];
    snapshot(link("wan0", extra));
  }
  await sleep(300);
  // The address in use stayed usable all along, so nothing had to change.
  assert.equal(listeners.calls.length, before);
  // A burst that really changes the address: only the last value counts.
  for (let i = 2; i < 200; i++) snapshot(link("wan0", [addr(`2001:db8:2::${i}`)]));
  await until(
    () => agent.status().wan.address === "2001:db8:2::199" && agent.status().phase === "serving",
    "renumbered",
  );
  await sleep(250);
  assert.equal(listeners.maxPerPort, 1, "two reconciles never start the same port at once");
  const starts = listeners.calls.slice(before).filter((c) => c.startsWith("start:"));
  assert.ok(starts.length <= 4, `at most two rounds of two listeners, got ${starts.join(" ")}`);
  assert.ok(starts.slice(-2).every((c) => c.endsWith("2001:db8:2::199")));
  assert.equal(firewall.calls.filter((c) => c === "apply").length, 1, "WAN changes never touch the firewall");
});

test("WAN link down stops listeners and waits for wan-link; up serves again", async (t) => {
  const { agent, leases, listeners, snapshot } = setup();
  t.after(() => agent.stop());
  snapshot(link("wan0", [addr("2001:db8:1::1")]));
  leases.next({ type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.100")] });
  await until(() => agent.status().phase === "serving", "serving");
  snapshot(link("wan0", [addr("2001:db8:1::1")], false));
  await until(() => listeners.running.size === 0, "listeners stopped");
  assert.equal(agent.status().phase, "waiting");
  assert.equal(agent.status().waitingFor, "wan-link");
  snapshot(link("wan0", [addr("2001:db8:1::1")]));
  await until(() => agent.status().phase === "serving" && listeners.running.size === 2, "serving again");
});

test("a failed step leaves the phase degraded and is retried", async (t) => {
  const { agent, leases, firewall, snapshot } = setup();
  t.after(() => agent.stop());
  firewall.failNext = true;
  snapshot(link("wan0", [addr("2001:db8:1::1")]));
  leases.next({ type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.100")] });
  await until(() => agent.status().phase === "degraded", "degraded");
  assert.match(agent.status().reason ?? "", /simulated/);
  await until(() => agent.status().phase === "serving", "recovered by retry", 3000);
});

test("reconcile() repairs rules changed behind our back", async (t) => {
  const { agent, leases, firewall, snapshot } = setup();
  t.after(() => agent.stop());
  snapshot(link("wan0", [addr("2001:db8:1::1")]));
  leases.next({ type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.100")] });
  await until(() => agent.status().phase === "serving", "serving");
  firewall.tamper();
  const report = await agent.reconcile();
  assert.equal(report?.ok, true);
  assert.equal(firewall.rule?.deviceAddress, "192.168.1.100");
});

test("setPorts validates, and bad ports change nothing", async (t) => {
  const { agent, leases, listeners, snapshot } = setup();
  t.after(() => agent.stop());
  snapshot(link("wan0", [addr("2001:db8:1::1")]));
  leases.next({ type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.100")] });
  await until(() => agent.status().phase === "serving", "serving");
  await assert.rejects(agent.setPorts([{ listen: 70000, target: 80 }]), /ports\.0\.listen/);
  await assert.rejects(
    agent.setPorts([
      { listen: 80, target: 80 },
      { listen: 80, target: 81 },
    ]),
    /listed twice/,
  );
  assert.deepEqual([...listeners.running.keys()].sort(), ["device/2323", "device/80"]);
  await agent.setPorts([{ listen: 8080, target: 80 }]);
  await until(() => listeners.running.size === 1 && listeners.running.has("device/8080"), "new ports");
  assert.equal(agent.status().portsSource, "runtime");
  await agent.resetPorts();
  await until(() => listeners.running.size === 2, "config ports back");
});

test("stop removes listeners and rules", async () => {
  const { agent, leases, firewall, listeners, snapshot } = setup();
  snapshot(link("wan0", [addr("2001:db8:1::1")]));
  leases.next({ type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.100")] });
  await until(() => agent.status().phase === "serving", "serving");
  await agent.stop();
  assert.equal(listeners.running.size, 0);
  assert.equal(firewall.rule, null);
});

test("the health tick repairs drift and a failing probe degrades the phase, naming the hop", async (t) => {
  let deviceUp = true;
  // An end-to-end failure: a failing device hop refuses the device instead (refuse.test.ts).
  const { agent, leases, firewall, snapshot } = setup({ probeOk: () => deviceUp, probeHop: "end-to-end" });
  t.after(() => agent.stop());
  snapshot(link("wan0", [addr("2001:db8:1::1")]));
  leases.next({ type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.100")] });
  await until(() => agent.status().phase === "serving", "serving");
  firewall.tamper();
  deviceUp = false;
  const report = await agent.healthTick();
  assert.equal(report.ok, false);
  assert.equal(firewall.rule?.deviceAddress, "192.168.1.100", "drift repaired");
  assert.equal(agent.status().phase, "degraded");
  assert.equal(agent.status().reason, "probe failed: listener port 80 (end to end): ECONNREFUSED");
  assert.deepEqual(agent.status().lastProbe, report);
  deviceUp = true;
  await agent.healthTick();
  assert.equal(agent.status().phase, "serving");
});

test("a probe that spans a renumbering is taken again: the switch is not reported as a failure", async (t) => {
  // The first probe fails because the listeners move under it; the ones after it see the new setup.
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  let calls = 0;
  const probeOk = async () => {
    calls++;
    if (calls > 1) return true;
    await gate;
    return false;
  };
  const { agent, snapshot, healthy, listeners } = setup({ probeOk });
  t.after(() => agent.stop());
  healthy();
  await until(() => agent.status().phase === "serving", "serving");
  const probing = agent.probe();
  snapshot(link("wan0", [addr("2001:db8:2::1")]));
  await until(
    () => [...listeners.running.values()].every((l) => l.wanAddress === "2001:db8:2::1"),
    "listeners moved",
  );
  release();
  const report = await probing;
  assert.equal(report.ok, true);
  assert.equal(calls, 2);
  assert.equal(agent.status().phase, "serving");
});

test("a failed probe is taken again as soon as a reconcile changes what is in place", async (t) => {
  let deviceUp = false;
  const { agent, snapshot, healthy } = setup({ probeOk: () => deviceUp, probeHop: "end-to-end" });
  t.after(() => agent.stop());
  healthy();
  await until(() => agent.status().phase === "serving", "serving");
  await agent.healthTick();
  assert.equal(agent.status().phase, "degraded");
  // The path is whole again and the prefix moves: no tick, yet the verdict follows the new setup.
  deviceUp = true;
  snapshot(link("wan0", [addr("2001:db8:2::1")]));
  await until(() => agent.status().phase === "serving", "serving without a tick");
  assert.equal(agent.status().lastProbe?.ok, true);
});

test("probes asked for at once share one run", async (t) => {
  let calls = 0;
  const { agent, healthy } = setup({
    probeOk: async () => {
      calls++;
      await sleep(20);
      return true;
    },
  });
  t.after(() => agent.stop());
  healthy();
  await until(() => agent.status().phase === "serving", "serving");
  const [a, b] = await Promise.all([agent.probe(), agent.probe()]);
  assert.equal(a, b);
  assert.equal(calls, 1);
});

test("the start time follows a step of the wall clock, so the uptime never spans it", () => {
  const base = Date.parse("2026-01-01T00:00:00Z"); // the clock before the first NTP sync
  let offset = 0;
  const agent = new Agent({
    config: makeConfig({}),
    log,
    firewall: new FakeFirewall(),
    listeners: new FakeListeners(),
    addresses: new FakeAddresses(),
    links: new Subject<Event>(),
    leases: () => new Subject<Event>(),
    version: "test",
    now: () => base + offset,
  });
  assert.equal(agent.status().startedAt, "2026-01-01T00:00:00.000Z");
  offset = 1500; // drift or time passing: no step
  assert.equal(agent.status().startedAt, "2026-01-01T00:00:00.000Z");
  offset = 330 * 86400_000; // NTP steps the clock 330 days ahead
  const after = Date.parse(agent.status().startedAt);
  assert.ok(Math.abs(after - (base + offset)) < 1000, agent.status().startedAt);
  offset -= 7 * 86400_000; // and a week back
  assert.ok(Math.abs(Date.parse(agent.status().startedAt) - (base + offset)) < 1000);
});
