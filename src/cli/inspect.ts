// One-shot observation for `plan`: the same snapshot and lease read the agent uses, folded by the same core.
import type { Logger } from "pino";
import { initialFacts, reduce } from "../core/facts.js";
import { plan } from "../core/plan.js";
import type { Config, Plan } from "../core/types.js";
import { runChecked, type Runner } from "../effects/exec.js";
import { readLeases } from "../sources/leases.js";
import { parseIpAddrJson } from "../sources/ip-addr.js";

export async function observePlan(config: Config, runner: Runner, log: Logger): Promise<Plan> {
  const links = parseIpAddrJson((await runChecked(runner, ["ip", "-json", "addr", "show"])).stdout);
  let state = { config, facts: initialFacts };
  state = reduce(state, { type: "links", links });
  state = reduce(state, await readLeases(config.device.leases, log));
  return plan(state.facts, state.config);
}
