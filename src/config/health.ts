// The health tick: probes, drift repair and a state republish, on a node-cron schedule.
import { validateDetailed } from "node-cron";
import { z } from "zod";

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
