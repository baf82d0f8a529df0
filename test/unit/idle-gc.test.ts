// The steady garbage collection (src/util/idle-gc.ts): runs the given gc at its pace until stopped; nothing without one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { exposedGc, startIdleGc } from "../../src/util/idle-gc.js";
import { waitFor } from "../lab/util.js";

test("collects every interval until stopped", async () => {
  let calls = 0;
  const stop = startIdleGc(5, () => {
    calls++;
  });
  await waitFor(() => calls >= 3, { timeoutMs: 2000 });
  stop();
  const after = calls;
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(calls, after, "no collection after stop");
});

test("without --expose-gc there is no gc to call, and starting is a no-op", () => {
  // This test runner runs without --expose-gc.
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, "undefined");
  assert.equal(exposedGc(), undefined);
  startIdleGc(1)();
});
