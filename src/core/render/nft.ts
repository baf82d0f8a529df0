// Renders the SNAT rule as one nft script that replaces our table atomically.
import type { SnatRule } from "../types.js";

export const NFT_TABLE = "sixgate";

/**
 * "add table; delete table; add table {...}" runs as one transaction: the table is created if missing,
 * so the delete always succeeds, and the new content replaces the old with no window in between.
 */
export function renderNftScript(rule: SnatRule | null): string {
  const reset = `table ip ${NFT_TABLE} {}\ndelete table ip ${NFT_TABLE}\n`;
  if (rule === null) return reset;
  // A single port without braces, as `nft list` prints it, so read-back compares like with like.
  const ports = rule.ports.length === 1 ? String(rule.ports[0]) : `{ ${rule.ports.join(", ")} }`;
  return (
    reset +
    `table ip ${NFT_TABLE} {\n` +
    `\tchain postrouting {\n` +
    `\t\ttype nat hook postrouting priority srcnat; policy accept;\n` +
    `\t\toifname "${rule.lanInterface}" ip daddr ${rule.deviceAddress} tcp dport ${ports} snat to ${rule.lanAddress}\n` +
    `\t}\n` +
    `}\n`
  );
}
