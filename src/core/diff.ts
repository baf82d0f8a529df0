// diff(actual, desired) -> the steps that turn one into the other, touching only what differs.
import type { Actual, Desired, ListenerSpec, SnatRule, Step } from "./types.js";

export function sameListener(a: ListenerSpec, b: ListenerSpec): boolean {
  return (
    a.listen === b.listen &&
    a.target === b.target &&
    a.wanInterface === b.wanInterface &&
    a.wanAddress === b.wanAddress &&
    a.deviceAddress === b.deviceAddress &&
    a.lanAddress === b.lanAddress &&
    a.lanInterface === b.lanInterface &&
    a.maxChildren === b.maxChildren &&
    a.backlog === b.backlog &&
    a.connectTimeoutSec === b.connectTimeoutSec &&
    a.keepaliveSec === b.keepaliveSec &&
    a.idleTimeoutSec === b.idleTimeoutSec &&
    a.halfCloseSec === b.halfCloseSec
  );
}

export function sameSnat(a: SnatRule | null, b: SnatRule | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    a.lanInterface === b.lanInterface &&
    a.lanAddress === b.lanAddress &&
    a.deviceAddress === b.deviceAddress &&
    a.ports.length === b.ports.length &&
    a.ports.every((p, i) => p === b.ports[i])
  );
}

export function sameDesired(a: Desired, b: Desired): boolean {
  return (
    sameSnat(a.snat, b.snat) &&
    a.listeners.length === b.listeners.length &&
    a.listeners.every((l, i) => {
      const other = b.listeners[i];
      return other !== undefined && sameListener(l, other);
    })
  );
}

/**
 * Stops come first (a changed listener frees its port before its successor binds it), then the firewall,
 * so SNAT is in place before new listeners accept, then starts.
 */
export function diff(actual: Actual, desired: Desired): Step[] {
  const steps: Step[] = [];
  const want = new Map(desired.listeners.map((l) => [l.listen, l]));
  const have = new Map(actual.listeners.map((l) => [l.listen, l]));
  for (const spec of actual.listeners) {
    const target = want.get(spec.listen);
    if (target === undefined || !sameListener(spec, target)) steps.push({ kind: "stop-listener", spec });
  }
  if (!sameSnat(actual.snat, desired.snat)) {
    steps.push(desired.snat === null ? { kind: "remove-snat" } : { kind: "apply-snat", rule: desired.snat });
  }
  for (const spec of desired.listeners) {
    const current = have.get(spec.listen);
    if (current === undefined || !sameListener(current, spec)) steps.push({ kind: "start-listener", spec });
  }
  return steps;
}

/** What actual becomes once a step succeeded. The reconciler tracks actual with it, step by step. */
export function applyStep(actual: Actual, step: Step): Actual {
  const byPort = (ls: ListenerSpec[]) => [...ls].sort((a, b) => a.listen - b.listen);
  switch (step.kind) {
    case "stop-listener":
      return { ...actual, listeners: actual.listeners.filter((l) => l.listen !== step.spec.listen) };
    case "start-listener":
      return {
        ...actual,
        listeners: byPort([...actual.listeners.filter((l) => l.listen !== step.spec.listen), step.spec]),
      };
    case "apply-snat":
      return { ...actual, snat: step.rule };
    case "remove-snat":
      return { ...actual, snat: null };
  }
}

export function applySteps(actual: Actual, steps: Step[]): Actual {
  return steps.reduce(applyStep, actual);
}
