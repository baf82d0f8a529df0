// firewall: auto | nft | iptables -> a backend.
import type { Logger } from "pino";
import type { Runner } from "../exec.js";
import type { Firewall } from "./firewall.js";
import { createIptablesFirewall } from "./iptables.js";
import { createNftFirewall, nftWorks } from "./nft.js";

export async function selectFirewall(
  choice: "auto" | "nft" | "iptables",
  runner: Runner,
  log: Logger,
): Promise<Firewall> {
  if (choice === "nft") return createNftFirewall(runner);
  if (choice === "iptables") return createIptablesFirewall(runner);
  if (await nftWorks(runner)) return createNftFirewall(runner);
  log.info("nft is not usable here; using iptables");
  return createIptablesFirewall(runner);
}
