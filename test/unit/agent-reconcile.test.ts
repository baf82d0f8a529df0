// The reconciler's answers: what a `reconcile` request gets back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PARALLEL_STEPS } from "../../src/agent.js";
import { setup, sleep, until } from "./agent-harness.js";
import { addr, link } from "./fixtures.js";

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

test("64 listeners start and stop at most PARALLEL_STEPS at once, all stops before any start", async (t) => {
  const { agent, healthy, listeners, snapshot } = setup({ config: { ports: PORTS_64 } });
  t.after(() => agent.stop());
  listeners.startDelayMs = 10;
  healthy();
  await until(() => agent.status().phase === "serving", "serving", 5000);
  assert.equal(listeners.running.size, 64);
  assert.equal(listeners.maxConcurrent, PARALLEL_STEPS, "bounded, and more than one at a time");
  // Renumbering: every listener changes. The stops phase ends before the starts phase begins.
  const before = listeners.calls.length;
  snapshot(link("wan0", [addr("2001:db8:2::1")]));
  await until(
    () => agent.status().phase === "serving" && agent.status().wan.address === "2001:db8:2::1",
    "renumbered",
    5000,
  );
  const calls = listeners.calls.slice(before);
  const lastStop = calls.findLastIndex((c) => c.startsWith("stop:"));
  const firstStart = calls.findIndex((c) => c.startsWith("start:"));
  assert.equal(calls.filter((c) => c.startsWith("stop:")).length, 64);
  assert.equal(calls.filter((c) => c.startsWith("start:")).length, 64);
  assert.ok(lastStop < firstStart, "stops before starts");
  assert.ok(calls.every((c) => !c.startsWith("start:") || c.endsWith("2001:db8:2::1")));
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
