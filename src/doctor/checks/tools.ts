// The tools the agent runs: the same preflight as `sixgate run` (src/effects/preflight.ts), so doctor names the
// tool, what is wrong with it and the package to install in the agent's own words.
import { describeToolFaults } from "../../effects/preflight.js";
import type { DoctorContext } from "../context.js";
import type { Check } from "../types.js";

export function toolsCheck(ctx: DoctorContext): Check {
  const id = "tools";
  const title = "Tools (ip, socat, firewall)";
  const { faults, backend } = ctx.tools;
  if (faults.length === 0 && backend !== undefined)
    return { id, title, status: "ok", detail: `ip supports -json and monitor; socat and ${backend} work` };
  return {
    id,
    title,
    status: "fail",
    detail: `the agent refuses to start (exit 69): ${describeToolFaults(faults).join("; ")}`,
    fix: [...new Set(faults.map((f) => `install ${f.install}`))].join("; "),
  };
}
