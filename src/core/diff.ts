// diff(actual, desired) -> the steps that turn one into the other, touching only what differs.
import {
  compareByDevice,
  compareListeners,
  listenerKey,
  type Actual,
  type Desired,
  type ListenerSpec,
  type OwnAddress,
  type SnatRule,
  type Step,
} from "./types.js";

export function sameListener(a: ListenerSpec, b: ListenerSpec): boolean {
  return (
    a.device === b.device &&
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
    a.halfCloseSec === b.halfCloseSec &&
    a.range === b.range
  );
}

function sameSnatRule(a: SnatRule, b: SnatRule): boolean {
  return (
    a.device === b.device &&
    a.lanInterface === b.lanInterface &&
    a.lanAddress === b.lanAddress &&
    a.deviceAddress === b.deviceAddress &&
    a.ports.length === b.ports.length &&
    a.ports.every((p, i) => p === b.ports[i])
  );
}

/** Same rules in the same order (Desired keeps them sorted by device). */
export function sameSnat(a: readonly SnatRule[], b: readonly SnatRule[]): boolean {
  return a.length === b.length && a.every((r, i) => b[i] !== undefined && sameSnatRule(r, b[i]));
}

const sameAddress = (a: OwnAddress, b: OwnAddress) =>
  a.device === b.device && a.interface === b.interface && a.address === b.address;

/** Same own addresses in the same order (Desired keeps them sorted by device). */
export function sameAddresses(a: readonly OwnAddress[], b: readonly OwnAddress[]): boolean {
  return a.length === b.length && a.every((x, i) => b[i] !== undefined && sameAddress(x, b[i]));
}

export function sameDesired(a: Desired, b: Desired): boolean {
  return (
    sameSnat(a.snat, b.snat) &&
    sameAddresses(a.addresses, b.addresses) &&
    a.listeners.length === b.listeners.length &&
    a.listeners.every((l, i) => {
      const other = b.listeners[i];
      return other !== undefined && sameListener(l, other);
    })
  );
}

/**
 * Stops come first (a changed listener frees its port before its successor binds it), then the firewall and the own
 * addresses (an address is removed after the listeners that bound it stopped, and added before the listeners that bind
 * it start), so SNAT is in place before new listeners accept, then starts. An own address that did not change is
 * not touched, nor are its listeners.
 */
export function diff(actual: Actual, desired: Desired): Step[] {
  const steps: Step[] = [];
  const want = new Map(desired.listeners.map((l) => [listenerKey(l), l]));
  const have = new Map(actual.listeners.map((l) => [listenerKey(l), l]));
  for (const spec of actual.listeners) {
    const target = want.get(listenerKey(spec));
    if (target === undefined || !sameListener(spec, target)) steps.push({ kind: "stop-listener", spec });
  }
  if (!sameSnat(actual.snat, desired.snat)) {
    steps.push(
      desired.snat.length === 0 ? { kind: "remove-snat" } : { kind: "apply-snat", rules: desired.snat },
    );
  }
  const has = (list: readonly OwnAddress[], a: OwnAddress) => list.some((b) => sameAddress(a, b));
  for (const address of actual.addresses)
    if (!has(desired.addresses, address)) steps.push({ kind: "remove-address", address });
  for (const address of desired.addresses)
    if (!has(actual.addresses, address)) steps.push({ kind: "add-address", address });
  for (const spec of desired.listeners) {
    const current = have.get(listenerKey(spec));
    if (current === undefined || !sameListener(current, spec)) steps.push({ kind: "start-listener", spec });
  }
  return steps;
}

/** What actual becomes once a step succeeded. The reconciler tracks actual with it, step by step. */
export function applyStep(actual: Actual, step: Step): Actual {
  const byKey = (ls: ListenerSpec[]) => [...ls].sort(compareListeners);
  const others = (spec: ListenerSpec) => actual.listeners.filter((l) => listenerKey(l) !== listenerKey(spec));
  switch (step.kind) {
    case "stop-listener":
      return { ...actual, listeners: others(step.spec) };
    case "start-listener":
      return { ...actual, listeners: byKey([...others(step.spec), step.spec]) };
    case "apply-snat":
      return { ...actual, snat: step.rules };
    case "remove-snat":
      return { ...actual, snat: [] };
    case "add-address":
      return { ...actual, addresses: [...actual.addresses, step.address].sort(compareByDevice) };
    case "remove-address":
      return { ...actual, addresses: actual.addresses.filter((a) => !sameAddress(a, step.address)) };
  }
}

export function applySteps(actual: Actual, steps: Step[]): Actual {
  return steps.reduce(applyStep, actual);
}
