// Renders the SNAT rule for iptables-restore --noflush, touching only our own chain and our one jump.
import type { SnatRule } from "../types.js";

export const IPT_CHAIN = "SIXGATE-POSTROUTING";
export const IPT_JUMP = ["-A", "POSTROUTING", "-j", IPT_CHAIN] as const;

/**
 * Declaring ":CHAIN" under --noflush creates or empties just that chain. The jump from POSTROUTING is
 * added only when missing (the caller checks), so it exists exactly once.
 */
export function renderIptablesRestore(rule: SnatRule, addJump: boolean): string {
  const lines = ["*nat", `:${IPT_CHAIN} - [0:0]`];
  if (addJump) lines.push(IPT_JUMP.join(" "));
  lines.push(
    `-A ${IPT_CHAIN} -o ${rule.lanInterface} -d ${rule.deviceAddress}/32 -p tcp -m multiport --dports ${rule.ports.join(",")} -j SNAT --to-source ${rule.lanAddress}`,
    "COMMIT",
    "",
  );
  return lines.join("\n");
}

/** Removes our jump (if present) and our chain. */
export function renderIptablesRemove(hasJump: boolean): string {
  const lines = ["*nat"];
  if (hasJump) lines.push(`-D POSTROUTING -j ${IPT_CHAIN}`);
  lines.push(`-F ${IPT_CHAIN}`, `-X ${IPT_CHAIN}`, "COMMIT", "");
  return lines.join("\n");
}
