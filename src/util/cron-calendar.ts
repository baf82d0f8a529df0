// The next slot of a node-cron schedule, in the gateway's local time, without Intl.
//
// node-cron parses and validates the expression (`parse`: the allowed values of each of its six fields); the dates
// are computed here. node-cron's own calendar (a task's getNextRuns) reads local time through Intl.DateTimeFormat,
// and the first Intl call maps ICU's locale and time zone data: 8 MB of the idle agent's RSS on Node 24
// (bench/idle-memory.ts, docs/operations.md), for one date every 30 s. A task also imports node:crypto (3 MB more)
// for an id. Date's own local-time methods give the same answers (test/unit/cron-calendar.test.ts checks them
// against node-cron's getNextRuns) at no cost.
import { parse } from "node-cron";

/** The allowed values of each field, as node-cron's parse() gives them (day tokens such as L, 15W, 5#3 as text). */
type Fields = ReturnType<typeof parse>;

/** node-cron's own bound on the days it searches. */
const MAX_DAYS = 366 * 100;

function lastDayOfMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** The weekday (Mon-Fri) nearest to a day of the month, within the month (Quartz's `W`). */
function nearestWeekday(year: number, month: number, target: number): number {
  const last = lastDayOfMonth(year, month);
  if (target < 1 || target > last) return -1;
  const weekday = new Date(Date.UTC(year, month - 1, target)).getUTCDay();
  if (weekday === 6) return target === 1 ? target + 2 : target - 1;
  if (weekday === 0) return target === last ? target - 2 : target + 1;
  return target;
}

/** Day of month: a number, `L` (last), `L-n`, `nW` / `LW` (nearest weekday); as node-cron matches them. */
function dayOfMonthMatches(field: Fields["dayOfMonth"], year: number, month: number, day: number): boolean {
  const last = lastDayOfMonth(year, month);
  return field.some((value) => {
    if (typeof value === "number") return value === day;
    if (value === "L") return day === last;
    const w = /^(\d{1,2}|L)W$/.exec(value);
    if (w?.[1] !== undefined) return nearestWeekday(year, month, w[1] === "L" ? last : Number(w[1])) === day;
    const offset = /^L-(\d{1,2})$/.exec(value);
    return offset?.[1] !== undefined && last - Number(offset[1]) === day && day >= 1;
  });
}

/** Day of week (0 = Sunday, 7 too): a number, `dL` (the month's last such day), `d#n` (its n-th). */
function dayOfWeekMatches(field: Fields["dayOfWeek"], year: number, month: number, day: number): boolean {
  const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
  return field.some((value) => {
    if (typeof value === "number") return value % 7 === weekday;
    const nth = /^([0-7])#([1-5])$/.exec(value);
    if (nth?.[1] !== undefined)
      return Number(nth[1]) % 7 === weekday && Math.floor((day - 1) / 7) + 1 === Number(nth[2]);
    const lastOf = /^([0-7])L$/i.exec(value);
    return (
      lastOf?.[1] !== undefined && Number(lastOf[1]) % 7 === weekday && day + 7 > lastDayOfMonth(year, month)
    );
  });
}

/** Local time of a timestamp, or undefined when these fields do not exist there (skipped by a DST change). */
function localSlot(
  year: number,
  month: number,
  day: number,
  h: number,
  m: number,
  s: number,
): number | undefined {
  const date = new Date(year, month - 1, day, h, m, s);
  const exists =
    date.getFullYear() === year &&
    date.getMonth() === month - 1 &&
    date.getDate() === day &&
    date.getHours() === h &&
    date.getMinutes() === m &&
    date.getSeconds() === s;
  return exists ? date.getTime() : undefined;
}

/** A parsed schedule: next(afterMs) is its first slot in a later second than afterMs (ms since the epoch). */
export interface CronCalendar {
  next(afterMs: number): number;
}

/**
 * The calendar of a node-cron expression (five or six fields, seconds first when six). Throws node-cron's error
 * for an invalid expression (the config schema has refused those already: src/config/health.ts).
 */
export function cronCalendar(expression: string): CronCalendar {
  const fields = parse(expression);
  const asc = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const [seconds, minutes, hours] = [asc(fields.second), asc(fields.minute), asc(fields.hour)];
  return {
    next(afterMs) {
      const base = new Date(Math.floor(afterMs / 1000) * 1000);
      const start = new Date(base.getFullYear(), base.getMonth(), base.getDate());
      for (let i = 0; i < MAX_DAYS; i++) {
        // Calendar days from the base's day, counted in UTC so a DST change never skips or repeats one.
        const d = new Date(Date.UTC(start.getFullYear(), start.getMonth(), start.getDate() + i));
        const [year, month, day] = [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()];
        if (
          !fields.month.includes(month) ||
          !dayOfMonthMatches(fields.dayOfMonth, year, month, day) ||
          !dayOfWeekMatches(fields.dayOfWeek, year, month, day)
        )
          continue;
        // On the base's own day, hours and minutes before the base's are passed over without a Date each.
        const [bh, bm] = i === 0 ? [base.getHours(), base.getMinutes()] : [-1, -1];
        for (const h of hours) {
          if (h < bh) continue;
          for (const m of minutes) {
            if (h === bh && m < bm) continue;
            for (const s of seconds) {
              const slot = localSlot(year, month, day, h, m, s);
              if (slot !== undefined && slot > base.getTime()) return slot;
            }
          }
        }
      }
      throw new Error(`no slot of "${expression}" within ${MAX_DAYS} days`);
    },
  };
}
