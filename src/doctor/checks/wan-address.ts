// WAN IPv6 address: present, global, valid, settled. Names every address that was passed over, and why.
import { isUsableWanAddress } from "../../core/facts.js";
import type { DoctorContext } from "../context.js";
import type { AddressDetail } from "../../sources/ip-addr.js";
import type { Check } from "../types.js";

/** Why an address cannot carry the listeners, or undefined when it can (same rule as the agent's). */
export function rejection(a: AddressDetail): string | undefined {
  if (a.scope === "link") return "link-local";
  if (a.scope !== "global") return `scope ${a.scope}`;
  if (a.dadfailed) return "duplicate address detection failed: another host on the link uses it";
  if (a.tentative) return "tentative: duplicate address detection is still running";
  if (a.deprecated) return "deprecated: its preferred lifetime has run out";
  if (a.temporary) return "temporary privacy address: it changes over time";
  return isUsableWanAddress(a) ? undefined : "not usable";
}

const seconds = (n: number | undefined) => (n === undefined ? "forever" : `${n} s`);

const describe = (a: AddressDetail) =>
  `${a.address}/${a.prefixlen} (valid ${seconds(a.validLft)}, preferred ${seconds(a.preferredLft)})`;

function fixFor(rejected: AddressDetail[], wan: string, carrier: boolean): string {
  if (rejected.some((a) => a.scope === "global" && a.tentative)) {
    return carrier
      ? "wait a few seconds: duplicate address detection takes about dad_transmits x retrans_time_ms " +
          `(sysctl net.ipv6.conf.${wan}.dad_transmits, net.ipv6.neigh.${wan}.retrans_time_ms); run doctor again`
      : `duplicate address detection cannot finish without a carrier on ${wan}: fix the link first`;
  }
  if (rejected.some((a) => a.dadfailed)) {
    return "another host on the WAN uses the address: remove the duplicate, or delete the address and let the upstream assign another";
  }
  if (rejected.some((a) => a.scope === "global" && a.deprecated)) {
    return "the upstream is withdrawing the prefix: check the router's advertisements or DHCPv6 prefix delegation";
  }
  return (
    `the upstream gave ${wan} no global IPv6 address: check router advertisements reach it ` +
    `(net.ipv6.conf.${wan}.accept_ra must be 2 when forwarding is on) or configure DHCPv6 / a static address`
  );
}

export function wanAddressCheck(ctx: DoctorContext): Check {
  const wan = ctx.config.wan.interface;
  const id = "wan-address";
  const title = "WAN IPv6 address";
  if (!ctx.links.ok) return { id, title, status: "skip", detail: "the interfaces could not be read" };
  const link = ctx.links.value.find((l) => l.name === wan);
  if (link === undefined) return { id, title, status: "skip", detail: `there is no interface ${wan}` };
  const v6 = link.addresses.filter((a) => a.family === "inet6");
  const rejected = v6.filter((a) => rejection(a) !== undefined);
  const rejectedText =
    rejected.length === 0
      ? ""
      : `; passed over: ${rejected.map((a) => `${a.address} (${rejection(a) ?? ""})`).join(", ")}`;
  const configured = ctx.config.wan.address;
  const chosen = ctx.facts.wanAddress;

  if (chosen === undefined) {
    if (configured !== "auto") {
      const present = v6.find((a) => a.address === configured);
      return {
        id,
        title,
        status: "fail",
        detail:
          present === undefined
            ? `the configured address ${configured} is not on ${wan}${rejectedText}`
            : `the configured address ${configured} is on ${wan} but ${rejection(present) ?? "not usable"}${rejectedText}`,
        fix:
          present === undefined
            ? `add ${configured} to ${wan}, or set wan.address: auto to use whatever global address ${wan} has`
            : fixFor([present], wan, link.carrier),
      };
    }
    return {
      id,
      title,
      status: "fail",
      detail: `no usable global IPv6 address on ${wan}${v6.length === 0 ? " (no IPv6 address at all)" : rejectedText}`,
      fix: fixFor(rejected, wan, link.carrier),
    };
  }
  const used = v6.find((a) => a.address === chosen);
  const others = v6.filter((a) => a.address !== chosen && rejection(a) === undefined);
  const alsoText = others.length === 0 ? "" : `; also usable: ${others.map((a) => a.address).join(", ")}`;
  const detail = `${used === undefined ? chosen : describe(used)} on ${wan}${alsoText}${rejectedText}`;
  const agentAddress = ctx.agent.status?.wan.address ?? null;
  if (ctx.agent.status !== undefined && agentAddress !== null && agentAddress !== chosen) {
    return {
      id,
      title,
      status: "warn",
      detail: `the agent serves on ${agentAddress}, but the address to use now is ${detail}`,
      fix: "the agent follows address changes within a second; if this persists, restart it",
    };
  }
  return { id, title, status: "ok", detail: `using ${detail}` };
}
