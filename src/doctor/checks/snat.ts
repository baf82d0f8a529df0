// Our SNAT rules read back and compared with the plan, through the firewall adapter's own `matches`.
import { renderIptablesRules } from "../../core/render/iptables.js";
import { renderNftScript } from "../../core/render/nft.js";
import type { SnatRule } from "../../core/types.js";
import type { DoctorContext } from "../context.js";
import type { Check } from "../types.js";

/** The rule lines the plan wants, as the backend lists them. */
function wantedRules(rules: readonly SnatRule[], backend: "nft" | "iptables"): string {
  if (backend === "iptables") return renderIptablesRules(rules).join(" | ");
  return renderNftScript(rules)
    .split("\n")
    .filter((l) => l.includes(" snat to "))
    .map((l) => l.trim())
    .join(" | ");
}

/** The devices none of whose found lines send to their address (nft `ip daddr A`, iptables `-d A/32`). */
function devicesWithoutRule(rules: readonly SnatRule[], found: readonly string[]): SnatRule[] {
  const toAddress = (line: string, address: string) =>
    line.includes(`ip daddr ${address} `) || line.includes(`-d ${address}/32 `);
  return rules.filter((r) => !found.some((line) => toAddress(line, r.deviceAddress)));
}

export function snatCheck(ctx: DoctorContext): Check {
  const id = "snat";
  const title = "Source NAT";
  const expected = ctx.plan.desired.snat;
  const snat = ctx.snat;
  if (snat === undefined || (expected.length === 0 && ctx.plan.devices.some((d) => d.enabled)))
    return {
      id,
      title,
      status: "skip",
      detail: "nothing to compare: the LAN address or the device is not known (see above)",
    };
  if (!snat.ok)
    return {
      id,
      title,
      status: "warn",
      detail: `cannot read our rules: ${snat.error}`,
      fix: "run doctor as root; nft (or iptables-save) must work",
    };
  const { backend, matches, found, present } = snat.value;
  const where = backend === "nft" ? "table ip sixgate" : "chain SIXGATE-POSTROUTING (nat)";
  const foundText = found.length === 0 ? "" : `: ${found.join(" | ")}`;
  if (expected.length === 0) {
    return matches
      ? {
          id,
          title,
          status: "ok",
          detail: `no rules of ours, as expected while the proxy is disabled (${backend})`,
        }
      : {
          id,
          title,
          status: "warn",
          detail: `${where} is still in place though the proxy is disabled${foundText}`,
          fix: "the agent removes it when it reconciles; with no agent running: sixgate cleanup",
        };
  }
  const want = wantedRules(expected, backend);
  if (matches) return { id, title, status: "ok", detail: `${where}${foundText}` };
  const fix =
    ctx.agent.pid === undefined
      ? "start the agent: it applies its rules when it starts"
      : "the agent re-applies its rules when it reconciles: restart it (or send the MQTT reconcile command); " +
        "if they vanish again, something else reloads the firewall (fw4 reload, iptables-restore without --noflush, nft flush ruleset)";
  // With several devices, say whose rule is missing (a present table can lack one device's rule).
  const lacking = devicesWithoutRule(expected, found);
  const whose =
    ctx.config.shorthand || lacking.length === 0 || !present
      ? ""
      : `; no rule for ${lacking.map((r) => `${r.device} (${r.deviceAddress})`).join(", ")}`;
  return {
    id,
    title,
    status: "fail",
    detail: present
      ? `${where} differs from the plan${foundText}${whose}; want: ${want}`
      : `${where} is missing; want: ${want}`,
    fix,
  };
}
