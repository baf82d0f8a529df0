// The health tick: probes, drift repair and a state republish, on a node-cron schedule.
import { createTask, validateDetailed } from "node-cron";
import * as z from "zod";

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
  const calendar = createTask(expression, () => undefined); // never started: only asked for dates
  try {
    const slots = calendar.getNextRuns(50).map((d) => d.getTime());
    let longest = 0;
    for (let i = 1; i < slots.length; i++) longest = Math.max(longest, (slots[i] ?? 0) - (slots[i - 1] ?? 0));
    return Math.max(1, Math.ceil(longest / 1000));
  } finally {
    void Promise.resolve(calendar.destroy()).catch(() => undefined);
  }
}
