// The reconciler's answers: what a `reconcile` request gets back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setup, sleep, until } from "./agent-harness.js";

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
