// The health tick: probes, drift repair and a state republish, on a node-cron schedule.
import { validateDetailed } from "node-cron";
import * as z from "zod";
import { cronCalendar } from "../util/cron-calendar.js";

/** Every 30 seconds, in node-cron's six-field syntax (seconds first). */
export const DEFAULT_HEALTH_SCHEDULE = "*/30 * * * * *";

/** A node-cron expression; returns the problem, or undefined when it is valid. */
export function scheduleProblem(expression: string): string | undefined {
  const result = validateDetailed(expression);
  if (result.valid) return undefined;
  const detail = result.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
  return `"${expression.slice(0, 100)}" is not a valid cron schedule${detail ? ` (${detail})` : ""}`;
}

const schedule = z.string().superRefine((s, ctx) => {
  const problem = scheduleProblem(s);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});

export const healthConfigSchema = z
  .strictObject({
    schedule: schedule.default(DEFAULT_HEALTH_SCHEDULE),
    /** Per probe connection. */
    timeoutMs: z.number().int().min(100).max(30000).default(2000),
  })
  .default({ schedule: DEFAULT_HEALTH_SCHEDULE, timeoutMs: 2000 });

export type HealthConfig = z.output<typeof healthConfigSchema>;

/**
 * The longest wait between two health ticks of a valid schedule, in whole seconds (at least 1), over its next 50
 * slots from now: `*\/30 * * * * *` gives 30, `*\/7 * * * * *` gives 7. Home Assistant's `expire_after` is a few
 * of these (src/mqtt/discovery.ts).
 */
export function longestTickGapSec(expression: string): number {
  const calendar = cronCalendar(expression);
  let longest = 0;
  for (let i = 0, at = calendar.next(Date.now()); i < 49; i++) {
    const next = calendar.next(at);
    longest = Math.max(longest, next - at);
    at = next;
  }
  return Math.max(1, Math.ceil(longest / 1000));
}
