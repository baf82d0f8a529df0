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

const describe = (ranges: readonly TargetRange[]) =>
  ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)).join(", ");

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

/**
 * Why run-time port mappings for a device may not be used under a config: one `ports.N.target: ...` line per mapping
 * with a target port outside allowedTargets (or, without it, outside the device's own target ports in the config
 * file), each port of a range checked, joined with "; ". undefined when every target is allowed.
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
  const problems = ports.flatMap((p, i) => {
    const refused = outside(spanOf(p.target), allowed);
    if (refused.length === 0) return [];
    const what =
      typeof p.target === "number" ? `port ${p.target}` : `range ${p.target} (${describe(refused)})`;
    return [
      own
        ? `ports.${i}.target: ${what} is not one of the config file's target ports (${describe(allowed)}); list it in allowedTargets to allow it`
        : `ports.${i}.target: ${what} is outside allowedTargets (${describe(allowed)})`,
    ];
  });
  return problems.length === 0 ? undefined : problems.join("; ");
}
