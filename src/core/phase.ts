// The phase a person reads on a dashboard, derived from the plan and what the reconciler reports.
import type { ProbeReport } from "./status.js";
import type { DevicePlan, Plan, WaitingFor } from "./types.js";

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

/** A device's phase: the agent-wide ones (starting, stopping) are never a device's own. */
export interface DevicePhase extends Phase {
  name: string;
}

export interface DevicePhaseInput {
  plan: DevicePlan;
  /** True while what is in place for this device differs from its plan (a reconcile is due or running). */
  converging: boolean;
  listeners: { listen: number; state: ListenerState; connections: number; maxChildren: number }[];
  /** The failing hop of the last health probe of this device, if it failed. */
  probeFailure: string | undefined;
  /**
   * The errors of this device's steps in the last reconcile (a listener that could not bind its port...), while what
   * is in place for it still differs from its plan; none when absent.
   */
  failures?: readonly string[];
}

/** One device's phase, from its plan and what is in place for it. */
export function devicePhaseOf(input: DevicePhaseInput): DevicePhase {
  const { plan } = input;
  const name = plan.name;
  if (!plan.enabled) return { name, phase: "disabled", reason: "disabled by the operator" };
  if (plan.waitingFor !== undefined)
    return { name, phase: "waiting", waitingFor: plan.waitingFor, reason: plan.detail ?? plan.waitingFor };
  // A failed step leaves the device short of its plan until a retry succeeds: degraded, naming the error, rather
  // than converging with no reason (also while the retry runs, so the phase does not flap at every retry).
  const failures = input.failures ?? [];
  if (failures.length > 0) return { name, phase: "degraded", reason: failures.join("; ") };
  if (input.converging) return { name, phase: "converging" };
  const own = plan.ownAddress;
  if (own?.state === "dadfailed")
    return {
      name,
      phase: "degraded",
      reason: `own address ${own.address} is a duplicate: another host on ${own.interface} uses it (DAD failed); set another ipv6Suffix`,
    };
  if (plan.unreachable !== undefined) return { name, phase: "degraded", reason: plan.unreachable };
  const down = input.listeners.filter((l) => l.state !== "running").map((l) => `:${l.listen} ${l.state}`);
  if (down.length > 0) return { name, phase: "degraded", reason: `listener ${down.join(", ")}` };
  // At max-children socat stops accepting, while the kernel still completes handshakes into the backlog: the
  // end-to-end probe connects, but nobody answers.
  const full = input.listeners
    .filter((l) => l.connections >= l.maxChildren)
    .map((l) => `:${l.listen} (${l.connections} connections)`);
  if (full.length > 0)
    return { name, phase: "degraded", reason: `listener full, accepting no more: ${full.join(", ")}` };
  if (input.probeFailure !== undefined) return { name, phase: "degraded", reason: input.probeFailure };
  return { name, phase: "serving" };
}

export interface PhaseInput {
  /** True once the first interface snapshot and lease read arrived. */
  observed: boolean;
  stopping: boolean;
  plan: Plan;
  /** The last reconcile's error, while what is in place still differs from the plan. */
  reconcileError: string | undefined;
  /** Each device's phase (devicePhaseOf), in config order. */
  devices: DevicePhase[];
}

/**
 * The agent's phase, summarising its devices: the agent-wide states first (stopping, starting, every device
 * disabled, a failed reconcile, a wait of the gateway's own); then converging while any device is; serving when
 * every enabled device serves; waiting when every one waits; otherwise degraded, naming the devices that do not
 * serve. With one device its phase and reason are the agent's, as in 0.1.
 */
export function phaseOf(input: PhaseInput): Phase {
  const { plan } = input;
  if (input.stopping) return { phase: "stopping" };
  if (!input.observed) return { phase: "starting" };
  const active = input.devices.filter((d) => d.phase !== "disabled");
  if (active.length === 0) return { phase: "disabled", reason: "proxy disabled by the operator" };
  if (input.reconcileError !== undefined) return { phase: "degraded", reason: input.reconcileError };
  if (plan.waitingFor !== undefined)
    return { phase: "waiting", waitingFor: plan.waitingFor, reason: plan.detail ?? plan.waitingFor };
  const only = input.devices.length === 1 ? input.devices[0] : undefined;
  if (only !== undefined) return { phase: only.phase, waitingFor: only.waitingFor, reason: only.reason };
  if (active.some((d) => d.phase === "converging")) return { phase: "converging" };
  const notServing = active.filter((d) => d.phase !== "serving");
  if (notServing.length === 0) return { phase: "serving" };
  const reason = notServing.map((d) => `${d.name}: ${d.reason ?? d.phase}`).join("; ");
  if (notServing.length === active.length && active.every((d) => d.phase === "waiting"))
    return { phase: "waiting", waitingFor: "device", reason };
  return { phase: "degraded", reason };
}

/** The first failing hop of `device` in a probe report, as a phase reason; undefined when every hop answered. */
export function failingHop(report: ProbeReport, device: string): string | undefined {
  const bad = report.results.find((r) => !r.ok && r.device === device);
  if (bad === undefined) return undefined;
  const where =
    bad.hop === "device" ? `device port ${bad.target}` : `listener port ${bad.listen} (end to end)`;
  return `probe failed: ${where}: ${bad.error ?? "failed"}`;
}
