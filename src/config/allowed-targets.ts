// `allowedTargets`: the device ports a run-time change (MQTT set-ports) may point a listener at. Without it, only
// the config file's own target ports. The config file itself is the authority: its `ports` are always allowed.
import * as z from "zod";
import { parseSpan, type PortSpan, type PortText } from "../core/ports.js";

/** An inclusive range of target ports; a single port is a range of one. */
export interface TargetRange {
  from: number;
  to: number;
}

const RANGE = /^(\d{1,5})(?:-(\d{1,5}))?$/;

const inPortRange = (n: number) => n >= 1 && n <= 65535;

/** One entry: a port number (443), or a string with a port or an inclusive range ("8000-8010"). */
const entrySchema = z.union([z.number(), z.string()]).transform((value, ctx): TargetRange => {
  const match = typeof value === "string" ? RANGE.exec(value.trim()) : undefined;
  const from = typeof value === "number" ? value : Number(match?.[1]);
  const to = typeof value === "number" ? value : Number(match?.[2] ?? match?.[1]);
  if (
    !Number.isInteger(from) ||
    !Number.isInteger(to) ||
    !inPortRange(from) ||
    !inPortRange(to) ||
    from > to
  ) {
    ctx.addIssue({
      code: "custom",
      message: `${JSON.stringify(value)} is not a port 1-65535 or a range like "8000-8010"`,
    });
    return z.NEVER;
  }
  return { from, to };
});

export const allowedTargetsSchema = z
  .array(entrySchema)
  .min(1, "needs at least one port or range (leave it out to allow only the config file's target ports)")
  .max(64, "at most 64 entries");

/**
 * The ranges with overlapping and adjacent ones joined, so each port is named once; in the order they were first
 * written (a list the operator wrote reads as written).
 */
function merged(ranges: readonly TargetRange[]): TargetRange[] {
  const joined: (TargetRange & { at: number })[] = [];
  const byPort = ranges.map((r, at) => ({ ...r, at })).sort((a, b) => a.from - b.from);
  for (const r of byPort) {
    const last = joined.at(-1);
    if (last !== undefined && r.from <= last.to + 1) {
      last.to = Math.max(last.to, r.to);
      last.at = Math.min(last.at, r.at);
    } else joined.push({ ...r });
  }
  return joined.sort((a, b) => a.at - b.at).map(({ from, to }) => ({ from, to }));
}

const describe = (ranges: readonly TargetRange[]) =>
  merged(ranges)
    .map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`))
    .join(", ");

/** The ports of `span` outside every range of `allowed`, as ranges in port order. */
function outside(span: PortSpan, allowed: readonly TargetRange[]): TargetRange[] {
  const result: TargetRange[] = [];
  for (let n = span.first; n <= span.last; n++) {
    if (allowed.some((r) => r.from <= n && n <= r.to)) continue;
    const last = result.at(-1);
    if (last?.to === n - 1) last.to = n;
    else result.push({ from: n, to: n });
  }
  return result;
}

/** How many ports the ranges hold. */
const portsIn = (ranges: readonly TargetRange[]) => ranges.reduce((n, r) => n + r.to - r.from + 1, 0);

/**
 * Why run-time port mappings for a device may not be used under a config: one clause per set of refused target ports
 * (outside allowedTargets or, without it, outside the device's own target ports in the config file), naming every
 * field (`ports.N.target`) that points at them, each port of a range checked; a port several mappings name is listed
 * once, with all their fields. Clauses in the order of their first field, joined with "; "; undefined when every
 * target is allowed.
 */
export function refusedTargets(
  ports: readonly { target: PortText }[],
  config: { allowedTargets?: readonly TargetRange[] | undefined },
  device: { ports: readonly { target: PortText }[] },
): string | undefined {
  const own = config.allowedTargets === undefined;
  const spanOf = (t: PortText) => parseSpan(t) ?? { first: 0, last: -1 };
  const allowed =
    config.allowedTargets ??
    device.ports.map((p) => spanOf(p.target)).map((s) => ({ from: s.first, to: s.last }));
  // Each refused port with the mappings that name it, in port order.
  const fields = new Map<number, number[]>();
  ports.forEach((p, i) => {
    for (const r of outside(spanOf(p.target), allowed))
      for (let n = r.from; n <= r.to; n++) fields.set(n, [...(fields.get(n) ?? []), i]);
  });
  // Ports named by the same fields form one clause.
  const clauses = new Map<string, { named: number[]; ranges: TargetRange[] }>();
  for (const n of [...fields.keys()].sort((a, b) => a - b)) {
    const named = fields.get(n) ?? [];
    const key = named.map((i) => `ports.${i}.target`).join(", ");
    const clause = clauses.get(key) ?? { named, ranges: [] };
    const last = clause.ranges.at(-1);
    if (last?.to === n - 1) last.to = n;
    else clause.ranges.push({ from: n, to: n });
    clauses.set(key, clause);
  }
  const problems = [...clauses]
    .sort(
      ([, a], [, b]) =>
        (a.named[0] ?? 0) - (b.named[0] ?? 0) || (a.ranges[0]?.from ?? 0) - (b.ranges[0]?.from ?? 0),
    )
    .map(([key, { named, ranges }]) => {
      // One range mapping alone: the range as written, and which of its ports unless all.
      const target = named.length === 1 ? ports[named[0] ?? 0]?.target : undefined;
      const span = target === undefined ? undefined : spanOf(target);
      const whole = span !== undefined && portsIn(ranges) === span.last - span.first + 1;
      const one = portsIn(ranges) === 1 || typeof target === "string";
      const what =
        typeof target === "string"
          ? `range ${target}${whole ? "" : ` (${describe(ranges)})`} is`
          : `${one ? "port" : "ports"} ${describe(ranges)} ${one ? "is" : "are"}`;
      return own
        ? `${key}: ${what} not one of the config file's target ports (${describe(allowed)}); list ${one ? "it" : "them"} in allowedTargets to allow ${one ? "it" : "them"}`
        : `${key}: ${what} outside allowedTargets (${describe(allowed)})`;
    });
  return problems.length === 0 ? undefined : problems.join("; ");
}
