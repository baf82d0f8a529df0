// iptables backend: our own chain in the nat table plus one jump from POSTROUTING, via iptables-restore --noflush.
import {
  IPT_CHAIN,
  IPT_JUMP,
  renderIptablesRemove,
  renderIptablesRestore,
  renderIptablesRules,
} from "../../core/render/iptables.js";
import type { SnatRule } from "../../core/types.js";
import { runChecked, type Runner } from "../exec.js";
import type { Firewall } from "./firewall.js";

/** What the nat table holds of ours, line by line as iptables-save prints it. */
export interface NatView {
  chainExists: boolean;
  /** Copies of our unconditional jump from POSTROUTING. */
  jumps: number;
  /** The rules of our chain, in order. */
  rules: string[];
}

/** Reads `iptables-save -t nat` output (iptables-nft and iptables-legacy print options in the same order). */
export function parseNatView(saved: string): NatView {
  const lines = saved.split("\n").map((l) => l.trim());
  return {
    chainExists: lines.some((l) => l.startsWith(`:${IPT_CHAIN} `)),
    jumps: lines.filter((l) => l === IPT_JUMP).length,
    rules: lines.filter((l) => l.startsWith(`-A ${IPT_CHAIN} `)),
  };
}

/**
 * True when the nat table holds exactly `rules` (or nothing of ours, for none): our jump once, and our chain with
 * exactly the rendered rules, compared as whole lines (so `--dports 80` is not `80,443`, nor `lan0` `lan0.1`).
 */
export function natMatches(nat: NatView, rules: readonly SnatRule[]): boolean {
  if (rules.length === 0) return !nat.chainExists && nat.jumps === 0;
  const want = renderIptablesRules(rules);
  return (
    nat.jumps === 1 &&
    nat.rules.length === want.length &&
    [...nat.rules].sort().join("\n") === [...want].sort().join("\n")
  );
}

export function createIptablesFirewall(runner: Runner): Firewall {
  const readNat = async () => parseNatView((await runChecked(runner, ["iptables-save", "-t", "nat"])).stdout);
  const restore = (text: string) => runChecked(runner, ["iptables-restore", "--noflush"], { input: text });
  return {
    backend: "iptables",
    async apply(rules) {
      const nat = await readNat();
      await restore(renderIptablesRestore(rules, nat.jumps));
    },
    async remove() {
      const nat = await readNat();
      if (!nat.chainExists && nat.jumps === 0) return;
      await restore(renderIptablesRemove(nat.jumps));
    },
    async matches(rules) {
      return natMatches(await readNat(), rules);
    },
  };
}
