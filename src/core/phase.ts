// The phase a person reads on a dashboard, derived from the plan and what the reconciler reports.
import type { Plan, WaitingFor } from "./types.js";

export type PhaseName =
  "starting" | "waiting" | "converging" | "serving" | "degraded" | "disabled" | "stopping";

export interface Phase {
  phase: PhaseName;
  waitingFor?: WaitingFor;
  reason?: string;
}

export type ListenerState = "starting" | "running" | "restarting" | "stopped";

export interface PhaseInput {
  /** True once the first interface snapshot and lease read arrived. */
  observed: boolean;
  stopping: boolean;
  plan: Plan;
  /** True while the actual state differs from the plan's desired state (a reconcile is due or running). */
  converging: boolean;
  /** The last reconcile's error, if it failed. */
  reconcileError: string | undefined;
  listeners: { listen: number; state: ListenerState }[];
}

export function phaseOf(input: PhaseInput): Phase {
  const { plan } = input;
  if (input.stopping) return { phase: "stopping" };
  if (!input.observed) return { phase: "starting" };
  if (plan.detail === "disabled") return { phase: "disabled", reason: "proxy disabled by the operator" };
  if (input.reconcileError !== undefined) return { phase: "degraded", reason: input.reconcileError };
  if (plan.waitingFor !== undefined) {
    return { phase: "waiting", waitingFor: plan.waitingFor, reason: plan.detail ?? plan.waitingFor };
  }
  if (input.converging) return { phase: "converging" };
  const down = input.listeners.filter((l) => l.state !== "running").map((l) => `:${l.listen} ${l.state}`);
  if (down.length > 0) return { phase: "degraded", reason: `listener ${down.join(", ")}` };
  return { phase: "serving" };
}
