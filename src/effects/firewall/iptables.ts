// iptables backend: our own chain in the nat table plus one jump from POSTROUTING, via iptables-restore --noflush.
import { IPT_CHAIN, renderIptablesRemove, renderIptablesRestore } from "../../core/render/iptables.js";
import type { SnatRule } from "../../core/types.js";
import { runChecked, type Runner } from "../exec.js";
import type { Firewall } from "./firewall.js";

interface NatView {
  chainExists: boolean;
  jumps: number;
  rules: string[];
}

async function readNat(runner: Runner): Promise<NatView> {
  const saved = await runChecked(runner, ["iptables-save", "-t", "nat"]);
  const lines = saved.stdout.split("\n");
  return {
    chainExists: lines.some((l) => l.startsWith(`:${IPT_CHAIN} `)),
    jumps: lines.filter((l) => /^-A POSTROUTING\b/.test(l) && l.endsWith(`-j ${IPT_CHAIN}`)).length,
    rules: lines.filter((l) => l.startsWith(`-A ${IPT_CHAIN} `)),
  };
}

/** The words a saved rule must contain, whatever order iptables-save prints them in. */
function ruleWords(rule: SnatRule): string[] {
  return [
    `-o ${rule.lanInterface}`,
    `-d ${rule.deviceAddress}/32`,
    "-p tcp",
    `--dports ${rule.ports.join(",")}`,
    `-j SNAT --to-source ${rule.lanAddress}`,
  ];
}

export function createIptablesFirewall(runner: Runner): Firewall {
  const restore = (text: string) => runChecked(runner, ["iptables-restore", "--noflush"], { input: text });
  return {
    backend: "iptables",
    async apply(rule) {
      const nat = await readNat(runner);
      await restore(renderIptablesRestore(rule, nat.jumps === 0));
    },
    async remove() {
      const nat = await readNat(runner);
      if (!nat.chainExists) return;
      await restore(renderIptablesRemove(nat.jumps > 0));
    },
    async matches(rule) {
      const nat = await readNat(runner);
      if (rule === null) return !nat.chainExists && nat.jumps === 0;
      const [only] = nat.rules;
      return (
        nat.jumps === 1 &&
        nat.rules.length === 1 &&
        only !== undefined &&
        ruleWords(rule).every((w) => only.includes(w))
      );
    },
  };
}
