// The phase a person reads on a dashboard, derived from the plan and what the reconciler reports.
import type { ProbeReport } from "./status.js";
import type { Plan, WaitingFor } from "./types.js";

/** Every phase, in the order an agent usually passes through them. */
export const PHASES = [
  "starting",
  "waiting",
  "converging",
  "serving",
  "degraded",
  "disabled",
  "stopping",
] as const;

export type PhaseName = (typeof PHASES)[number];

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
  listeners: { listen: number; state: ListenerState; connections: number; maxChildren: number }[];
  /** The failing hop of the last health probe, if it failed. */
  probeFailure: string | undefined;
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
  // At max-children socat stops accepting, while the kernel still completes handshakes into the backlog: the
  // end-to-end probe connects, but nobody answers.
  const full = input.listeners
    .filter((l) => l.connections >= l.maxChildren)
    .map((l) => `:${l.listen} (${l.connections} connections)`);
  if (full.length > 0)
    return { phase: "degraded", reason: `listener full, accepting no more: ${full.join(", ")}` };
  if (input.probeFailure !== undefined) return { phase: "degraded", reason: input.probeFailure };
  return { phase: "serving" };
}

/** The first failing hop of a probe report, as a phase reason; undefined when every hop answered. */
export function failingHop(report: ProbeReport): string | undefined {
  const bad = report.results.find((r) => !r.ok);
  if (bad === undefined) return undefined;
  const where =
    bad.hop === "device" ? `device port ${bad.target}` : `listener port ${bad.listen} (end to end)`;
  return `probe failed: ${where}: ${bad.error ?? "failed"}`;
}
