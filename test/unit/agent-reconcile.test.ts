// The reconciler's answers: what a `reconcile` request gets back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PARALLEL_STEPS } from "../../src/agent.js";
import { setup, sleep, until } from "./agent-harness.js";
import { Subject } from "rxjs";
import type { Event } from "../../src/core/types.js";
import { addr, lease, link } from "./fixtures.js";

test("a reconcile with nothing to do answers with a fresh report of its own, not the previous one", async (t) => {
  const { agent, healthy } = setup();
  t.after(() => agent.stop());
  healthy();
  await until(() => agent.status().phase === "serving", "serving");
  const previous = agent.status().lastReconcile;
  assert.ok(previous !== null && previous.steps > 0);
  await sleep(20); // so the two reports' times differ
  const report = await agent.reconcile();
  assert.ok(report !== undefined);
  assert.equal(report.steps, 0);
  assert.equal(report.ok, true);
  assert.equal(report.error, null);
  assert.ok(Date.parse(report.at) > Date.parse(previous.at), `${report.at} after ${previous.at}`);
  // The status keeps the last reconcile that did something, so a tick with nothing to do publishes nothing new.
  assert.deepEqual(agent.status().lastReconcile, previous);
});

const PORTS_64 = Array.from({ length: 64 }, (_, i) => ({ listen: 8000 + i, target: 80 }));

/** Serving 64 ports on 2001:db8:1::1; returns what the listeners were asked after `before`. */
async function serving64() {
  const harness = setup({ config: { ports: PORTS_64, allowedTargets: [80, 81] } });
  harness.listeners.startDelayMs = 10;
  harness.healthy();
  await until(() => harness.agent.status().phase === "serving", "serving", 5000);
  assert.equal(harness.listeners.running.size, 64);
  const before = harness.listeners.calls.length;
  return { ...harness, callsSince: () => harness.listeners.calls.slice(before) };
}

const renumbered = (status: { phase: string; wan: { address: string | null } }) =>
  status.phase !== "converging" && status.wan.address === "2001:db8:2::1";

test("a renumbering replaces 64 listeners by their starts alone, at most PARALLEL_STEPS at once", async (t) => {
  const { agent, listeners, snapshot, callsSince } = await serving64();
  t.after(() => agent.stop());
  assert.equal(listeners.maxConcurrent, PARALLEL_STEPS, "bounded, and more than one at a time");
  snapshot(link("wan0", [addr("2001:db8:2::1")]));
  await until(() => renumbered(agent.status()) && agent.status().phase === "serving", "renumbered", 5000);
  const calls = callsSince();
  // Listeners.start replaces the listener of its key: no round of stops delays the starts.
  assert.deepEqual(
    calls.filter((c) => c.startsWith("stop:")),
    [],
  );
  assert.equal(calls.filter((c) => c.startsWith("start:")).length, 64);
  assert.ok(calls.every((c) => c.endsWith("2001:db8:2::1")));
  assert.ok([...listeners.running.values()].every((l) => l.wanAddress === "2001:db8:2::1"));
  assert.equal(agent.status().lastReconcile?.steps, 128, "diff's steps, each counted");
});

test("listeners that go away stop before any start; changed ones are started without a stop", async (t) => {
  const { agent, listeners, callsSince } = await serving64();
  t.after(() => agent.stop());
  // Ports 8056-8063 go; the others get another target.
  await agent.setPorts(PORTS_64.slice(0, 56).map((p) => ({ ...p, target: 81 })));
  await until(() => agent.status().phase === "serving" && listeners.running.size === 56, "changed", 5000);
  const calls = callsSince();
  const stops = calls.filter((c) => c.startsWith("stop:"));
  assert.deepEqual(
    stops.sort(),
    PORTS_64.slice(56).map((p) => `stop:${String(p.listen)}`),
  );
  assert.ok(
    calls.findLastIndex((c) => c.startsWith("stop:")) < calls.findIndex((c) => c.startsWith("start:")),
  );
  assert.equal(calls.filter((c) => c.startsWith("start:")).length, 56);
  assert.ok([...listeners.running.values()].every((l) => l.target === 81));
});

test("a backend that takes every call at once gets the whole phase at once", async (t) => {
  const { agent, listeners, snapshot } = await serving64();
  t.after(() => agent.stop());
  listeners.concurrency = Number.POSITIVE_INFINITY;
  listeners.maxConcurrent = 0;
  snapshot(link("wan0", [addr("2001:db8:2::1")]));
  await until(() => renumbered(agent.status()) && agent.status().phase === "serving", "renumbered", 5000);
  assert.equal(listeners.maxConcurrent, 64);
});

test("a replacing start that fails is reported for its port and leaves it out of what is in place", async (t) => {
  const { agent, listeners, snapshot } = await serving64();
  t.after(() => agent.stop());
  listeners.failing.add(8005);
  snapshot(link("wan0", [addr("2001:db8:2::1")]));
  await until(() => renumbered(agent.status()) && agent.status().lastReconcile?.ok === false, "failed", 5000);
  assert.match(agent.status().lastReconcile?.error ?? "", /listener :8005 failed/);
  assert.equal(listeners.running.size, 63);
  // Not in place, so the retry starts it again: once it can, every port serves at the new address.
  listeners.failing.clear();
  await until(() => listeners.running.size === 64 && agent.status().phase === "serving", "retried", 5000);
  assert.ok([...listeners.running.values()].every((l) => l.wanAddress === "2001:db8:2::1"));
});

test("stop ends an in-flight reconcile between rounds and removes everything", async () => {
  const { agent, healthy, listeners, firewall } = setup({ config: { ports: PORTS_64 } });
  listeners.startDelayMs = 50;
  healthy();
  await until(() => listeners.calls.some((c) => c.startsWith("start:")), "the first start");
  await agent.stop();
  const starts = listeners.calls.filter((c) => c.startsWith("start:")).length;
  assert.ok(starts <= PARALLEL_STEPS, `only the round in flight finished: ${starts} starts`);
  assert.equal(listeners.running.size, 0);
  assert.equal(firewall.rule, null);
  assert.equal(agent.status().phase, "stopping");
});

test("a phase change is logged once, with its reason", async (t) => {
  const { agent, healthy, snapshot, lines } = setup();
  t.after(() => agent.stop());
  healthy();
  await until(() => agent.status().phase === "serving", "serving");
  await sleep(100); // further publishes (listener changes, the reconcile report) change no phase
  const phases = () => lines.filter((l) => typeof l.phase === "string" && l.msg.startsWith("phase "));
  assert.equal(phases().filter((l) => l.phase === "serving").length, 1);
  const before = phases().length;
  snapshot(link("wan0", [addr("2001:db8:1::1")], false));
  await until(() => agent.status().phase === "waiting", "waiting");
  await sleep(100);
  const after = phases().slice(before);
  assert.deepEqual(
    after.map((l) => [l.phase, l.reason]),
    [["waiting", "wan0 is missing or has no carrier"]],
  );
});

test("startup with the neighbour table before the lease file: one reconcile, for the lease's address", async (t) => {
  const neighbours = new Subject<Event>();
  const { agent, leases, firewall, listeners, snapshot } = setup({
    neighbours,
    config: { device: { mac: "02:00:00:00:01:00", leases: "/tmp/dhcp.leases" } },
  });
  t.after(() => agent.stop());
  snapshot(link("wan0", [addr("2001:db8:1::1")]));
  // The device's old address, still REACHABLE in the kernel's table; its lease names the new one.
  neighbours.next({
    type: "neighbours",
    neighbours: [
      { address: "192.168.1.50", mac: "02:00:00:00:01:00", state: ["REACHABLE"], confirmedAgoSec: 1 },
    ],
  });
  await sleep(20);
  leases.next({ type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.100")] });
  await until(() => agent.status().phase === "serving", "serving");
  await sleep(150); // past debounceMs (50): a second reconcile would have run
  assert.deepEqual(firewall.calls, ["apply"], "the SNAT rule applied once");
  assert.equal(firewall.rules[0]?.deviceAddress, "192.168.1.100");
  assert.equal(
    listeners.calls.length,
    listeners.running.size,
    `each listener started once, never moved: ${listeners.calls.join(", ")}`,
  );
});
