// The backend the tools preflight chose (src/effects/preflight.ts decides "auto") -> a Firewall.
import type { Runner } from "../exec.js";
import type { Firewall } from "./firewall.js";
import { createIptablesFirewall } from "./iptables.js";
import { createNftFirewall } from "./nft.js";

export function selectFirewall(backend: "nft" | "iptables", runner: Runner): Firewall {
  return backend === "nft" ? createNftFirewall(runner) : createIptablesFirewall(runner);
}
