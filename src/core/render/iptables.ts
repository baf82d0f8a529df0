// Renders the SNAT rules (one set per device) for iptables-restore --noflush, touching only our own chain and our one jump.
import type { SnatRule } from "../types.js";

export const IPT_CHAIN = "SIXGATE-POSTROUTING";
/** Our jump from POSTROUTING, as iptables-save prints it. */
export const IPT_JUMP = `-A POSTROUTING -j ${IPT_CHAIN}`;
/** xt_multiport takes at most 15 ports per rule (iptables-extensions(8)); more ports take more rules. */
export const MULTIPORT_MAX = 15;

/**
 * The rules of our chain, one per group of at most MULTIPORT_MAX ports, with their options in the order
 * iptables-save prints them. `-s` limits them to connections from the LAN address (the ones our listeners open),
 * as in the nft rule (see render/nft.ts).
 */
export function renderIptablesRules(rules: readonly SnatRule[]): string[] {
  return rules.flatMap(renderRule);
}

function renderRule(rule: SnatRule): string[] {
  const lines: string[] = [];
  for (let i = 0; i < rule.ports.length; i += MULTIPORT_MAX) {
    const ports = rule.ports.slice(i, i + MULTIPORT_MAX).join(",");
    lines.push(
      `-A ${IPT_CHAIN} -s ${rule.lanAddress}/32 -d ${rule.deviceAddress}/32 -o ${rule.lanInterface} -p tcp ` +
        `-m multiport --dports ${ports} -j SNAT --to-source ${rule.lanAddress}`,
    );
  }
  return lines;
}

/** `-D` lines that take `count` copies of our jump out of POSTROUTING. */
const deleteJumps = (count: number): string[] =>
  Array.from({ length: Math.max(0, count) }, () => `-D POSTROUTING -j ${IPT_CHAIN}`);

/**
 * Declaring ":CHAIN" under --noflush creates or empties just that chain. `jumps` is how many of our jumps
 * POSTROUTING holds now (the caller reads it): the jump is added when there is none and copies beyond the first
 * are deleted, so it exists exactly once afterwards.
 */
export function renderIptablesRestore(rules: readonly SnatRule[], jumps: number): string {
  const lines = ["*nat", `:${IPT_CHAIN} - [0:0]`];
  if (jumps === 0) lines.push(IPT_JUMP);
  lines.push(...deleteJumps(jumps - 1), ...renderIptablesRules(rules), "COMMIT", "");
  return lines.join("\n");
}

/** Removes all `jumps` of our jumps and our chain. */
export function renderIptablesRemove(jumps: number): string {
  return ["*nat", ...deleteJumps(jumps), `-F ${IPT_CHAIN}`, `-X ${IPT_CHAIN}`, "COMMIT", ""].join("\n");
}
