// The health schedule's calendar (src/util/cron-calendar.ts) against node-cron's own getNextRuns, which it
// replaces because node-cron reads local time through Intl (8 MB of RSS). node-cron's calendar starts from
// `new Date()`: the mocked clock sets where it starts. It is given the zone by name: it keeps its formatters per
// zone name, so one made under another TZ would answer for that zone.
import assert from "node:assert/strict";
import { describe, mock, test } from "node:test";
import fc from "fast-check";
import { createTask } from "node-cron";
import { cronCalendar } from "../../src/util/cron-calendar.js";

/** node-cron's next `count` slots after `fromMs`. */
function nodeCronRuns(expression: string, fromMs: number, count: number): number[] {
  mock.timers.enable({ apis: ["Date"], now: fromMs });
  try {
    const task = createTask(expression, () => undefined, { timezone: process.env.TZ });
    const runs = task.getNextRuns(count).map((d) => d.getTime());
    void task.destroy();
    return runs;
  } finally {
    mock.timers.reset();
  }
}

function ourRuns(expression: string, fromMs: number, count: number): number[] {
  const calendar = cronCalendar(expression);
  const runs: number[] = [];
  for (let at = fromMs; runs.length < count;) runs.push((at = calendar.next(at)));
  return runs;
}

/** Runs fn with the process's time zone set to tz (node reads TZ again when it changes). */
function inZone(tz: string, fn: () => void): void {
  const before = process.env.TZ;
  process.env.TZ = tz;
  try {
    fn();
  } finally {
    if (before === undefined) delete process.env.TZ;
    else process.env.TZ = before;
  }
}

const EXPRESSIONS = [
  "*/30 * * * * *",
  "* * * * * *",
  "*/7 * * * * *",
  "0,10 * * * * *",
  "0 0 * * * *",
  "15 */5 * * *",
  "0 30 2 * * *",
  "0 0 12 * * MON-FRI",
  "0 0 0 * * 7",
  "0 0 0 L * *",
  "0 0 0 L-3 * *",
  "0 0 0 LW * *",
  "0 0 0 15W * *",
  "0 0 0 1W * *",
  "0 0 9 * * 5#3",
  "0 0 9 * * 7L",
  "0 0 0 29 2 *",
  "0 0 0 31 * *",
  "0 0 0 13 * 5",
  "@daily",
  "@hourly",
];

const FROM = { min: Date.UTC(2020, 0, 1), max: Date.UTC(2045, 0, 1) };

describe("cron calendar", () => {
  test("the next slots are node-cron's own, in UTC", () => {
    inZone("UTC", () => {
      fc.assert(
        fc.property(fc.constantFrom(...EXPRESSIONS), fc.integer(FROM), (expression, from) => {
          assert.deepEqual(ourRuns(expression, from, 3), nodeCronRuns(expression, from, 3), expression);
        }),
        { numRuns: 300 },
      );
    });
  });

  test("in a zone with daylight saving time, away from its changes, the same as node-cron", () => {
    inZone("Europe/Berlin", () => {
      // Mid-month bases in June and December: no DST change within the slots asked for.
      for (const expression of EXPRESSIONS.filter((e) => !/L|W|#|29 2|31/.test(e)))
        for (const from of [Date.UTC(2026, 5, 10, 21, 59, 45), Date.UTC(2026, 11, 14, 23, 30, 1)])
          assert.deepEqual(ourRuns(expression, from, 3), nodeCronRuns(expression, from, 3), expression);
    });
  });

  test("across daylight saving time: a local time that does not exist is skipped, a repeated one comes once", () => {
    inZone("Europe/Berlin", () => {
      // 29 March 2026: 02:00 CET becomes 03:00 CEST (01:00 UTC). 02:30 does not exist that day.
      const spring = cronCalendar("0 30 2 * * *");
      assert.equal(
        new Date(spring.next(Date.UTC(2026, 2, 28, 23))).toISOString(),
        "2026-03-30T00:30:00.000Z",
      );
      const everyHalfMinute = cronCalendar("*/30 * * * * *");
      assert.equal(
        new Date(everyHalfMinute.next(Date.UTC(2026, 2, 29, 0, 59, 45))).toISOString(),
        "2026-03-29T01:00:00.000Z",
      );
      // 25 October 2026: 03:00 CEST becomes 02:00 CET (01:00 UTC). 02:30 is met once, the first time.
      const autumn = cronCalendar("0 30 2 * * *");
      const first = autumn.next(Date.UTC(2026, 9, 24, 23));
      assert.equal(new Date(first).toISOString(), "2026-10-25T00:30:00.000Z");
      assert.equal(new Date(autumn.next(first)).toISOString(), "2026-10-26T01:30:00.000Z");
    });
  });

  test("an invalid expression is node-cron's error", () => {
    assert.throws(() => cronCalendar("every 30s"), /./);
  });
});
