import { test } from "node:test";
import assert from "node:assert/strict";
import { Subject, lastValueFrom, toArray } from "rxjs";
import { runLatest } from "../../src/util/run-latest.js";

test("runLatest runs one job at a time and collapses what arrives meanwhile into the latest", async () => {
  const input = new Subject<number>();
  let running = 0;
  let maxRunning = 0;
  const seen: number[] = [];
  const results = lastValueFrom(
    input.pipe(
      runLatest(async (n) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        seen.push(n);
        await new Promise((r) => setTimeout(r, 20));
        running--;
        return n * 10;
      }),
      toArray(),
    ),
  );
  for (let i = 1; i <= 100; i++) input.next(i);
  await new Promise((r) => setTimeout(r, 5));
  input.next(101);
  input.complete();
  assert.deepEqual(await results, [10, 1010]);
  assert.deepEqual(seen, [1, 101]);
  assert.equal(maxRunning, 1);
});
