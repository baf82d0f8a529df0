// `allowedTargets`: the device ports a run-time change (MQTT set-ports) may point a listener at. Without it, only
// the config file's own target ports. The config file itself is the authority: its `ports` are always allowed.
import * as z from "zod";

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

/**
 * Why run-time port mappings for a device may not be used under a config: one `ports.N.target: ...` line per target
 * port outside allowedTargets (or, without it, outside the device's own target ports in the config file), joined
 * with "; ". undefined when every target is allowed.
 */
export function refusedTargets(
  ports: readonly { target: number }[],
  config: { allowedTargets?: readonly TargetRange[] | undefined },
  device: { ports: readonly { target: number }[] },
): string | undefined {
  const own = config.allowedTargets === undefined;
  const allowed = config.allowedTargets ?? device.ports.map((p) => ({ from: p.target, to: p.target }));
  const problems = ports.flatMap((p, i) =>
    allowed.some((r) => r.from <= p.target && p.target <= r.to)
      ? []
      : [
          own
            ? `ports.${i}.target: port ${p.target} is not one of the config file's target ports (${describe(allowed)}); list it in allowedTargets to allow it`
            : `ports.${i}.target: port ${p.target} is outside allowedTargets (${describe(allowed)})`,
        ],
  );
  return problems.length === 0 ? undefined : problems.join("; ");
}
