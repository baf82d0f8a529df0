// The host firewall's input verdict for each listen port, read from the nft ruleset (never changed).
import type { DoctorContext } from "../context.js";
import { inputVerdict, type InputVerdict } from "../nft-input.js";
import type { Check } from "../types.js";
import { expandPorts } from "../../core/ports.js";

export function hostFirewallCheck(ctx: DoctorContext): Check {
  const id = "host-firewall";
  const title = "Host firewall (input)";
  const wan = ctx.config.wan.interface;
  const listens = [
    ...new Set(ctx.devices.flatMap((d) => expandPorts(d.plan.ports).map((p) => p.listen))),
  ].sort((a, b) => a - b);
  if (!ctx.nft.ok) {
    return {
      id,
      title,
      status: "warn",
      detail: `cannot read the nft ruleset, so the input verdict is unknown: ${ctx.nft.error}`,
      fix: "run doctor as root; with iptables-legacy, check `ip6tables -S INPUT` by hand",
    };
  }
  const legacy = ctx.ip6tablesLegacyRules;
  if (legacy.ok && legacy.value > 0) {
    // nft lists only nftables; rules in the legacy x_tables filter table decide too, unseen.
    return {
      id,
      title,
      status: "warn",
      detail:
        `tcp/${listens.join(", ")}: unknown, ip6tables-legacy holds ${legacy.value} filter rule(s) ` +
        "that nft cannot see",
      fix: `check by hand that ip6tables-legacy lets TCP ${listens.join(", ")} in from ${wan}: ip6tables-legacy -S INPUT`,
    };
  }
  const chains = ctx.nft.value;
  const verdicts: [number, InputVerdict][] = listens.map((port) => [
    port,
    inputVerdict(chains, { wanInterface: wan, wanAddress: ctx.facts.wanAddress, port }),
  ]);
  // Ports with the same answer share a line: "tcp/80, 2323: accepted: no IPv6 input filter chain".
  const byWhy = new Map<string, number[]>();
  for (const [port, v] of verdicts) {
    const text = v.verdict === "unknown" ? `unknown, ${v.why}` : v.why;
    byWhy.set(text, [...(byWhy.get(text) ?? []), port]);
  }
  const detail = [...byWhy].map(([why, ports]) => `tcp/${ports.join(", ")}: ${why}`).join("; ");
  const dropped = verdicts.filter(([, v]) => v.verdict === "drop").map(([p]) => p);
  if (dropped.length > 0) {
    const set = dropped.length === 1 ? String(dropped[0]) : `{ ${dropped.join(", ")} }`;
    return {
      id,
      title,
      status: "fail",
      detail,
      fix:
        `let TCP ${dropped.join(", ")} in from ${wan} over IPv6: on OpenWrt add a fw4 traffic rule (src wan, family ipv6, ` +
        `proto tcp, dest_port ${dropped.join(" ")}, target ACCEPT; see docs/operations.md); with plain nftables e.g. ` +
        `nft add rule inet filter input iifname "${wan}" tcp dport ${set} accept`,
    };
  }
  if (verdicts.some(([, v]) => v.verdict === "unknown")) {
    return {
      id,
      title,
      status: "warn",
      detail,
      fix: `check by hand that the input rules let TCP ${listens.join(", ")} in from ${wan} (nft list ruleset)`,
    };
  }
  return { id, title, status: "ok", detail };
}
