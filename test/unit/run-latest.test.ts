import { test } from "node:test";
import assert from "node:assert/strict";
import { Subject, lastValueFrom, toArray } from "rxjs";
import { runLatest } from "../../src/util/run-latest.js";

/** Lets the promise callbacks queued so far run (bounded): no timer, so machine load cannot reorder anything. */
async function settle(until: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100 && !until(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(until(), `never happened: ${what}`);
}

test("runLatest runs one job at a time and collapses what arrives meanwhile into the latest", async () => {
  const input = new Subject<number>();
  let running = 0;
  let maxRunning = 0;
  const seen: number[] = [];
  // Each job ends when the test says so: the order of events is the test's, not the timers'.
  const finish = new Map<number, () => void>();
  const results = lastValueFrom(
    input.pipe(
      runLatest(async (n) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        seen.push(n);
        await new Promise<void>((r) => finish.set(n, r));
        running--;
        return n * 10;
      }),
      toArray(),
    ),
  );
  let done = false;
  void results.then(() => (done = true));
  for (let i = 1; i <= 100; i++) input.next(i);
  await settle(() => finish.has(1), "job 1 started");
  input.next(101); // arrives while job 1 still runs: 2..100 are replaced, never run
  input.complete(); // the source ends with a job running and one pending: both still run
  assert.deepEqual(seen, [1]);
  finish.get(1)?.();
  await settle(() => finish.has(101), "job 101 started after job 1");
  assert.deepEqual(seen, [1, 101]);
  assert.equal(done, false, "completes only after the pending job");
  finish.get(101)?.();
  assert.deepEqual(await results, [10, 1010]);
  assert.deepEqual(seen, [1, 101]);
  assert.equal(maxRunning, 1);
});
