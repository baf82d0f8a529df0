// WAN IPv6 address: present, global, valid, settled, on the interface it is taken from (wan.addressFrom, else
// wan.interface). Names every address that was passed over or ranked lower, and why; recognises an uplink that only
// has a link-local address while the delegated prefix lives on another interface.
import { isUniqueLocal } from "../../core/addr.js";
import { wanAddressInterface, wanAddressProblem, wanRank, type WanAddressProblem } from "../../core/facts.js";
import type { DoctorContext } from "../context.js";
import type { AddressDetail } from "../../sources/ip-addr.js";
import type { Check } from "../types.js";

const PROBLEM_TEXT: Record<WanAddressProblem, string> = {
  "not-ipv6": "not IPv6",
  "link-local": "link-local",
  "not-global": "not global scope",
  dadfailed: "duplicate address detection failed: another host on the link uses it",
  tentative: "tentative: duplicate address detection is still running",
  temporary: "temporary privacy address: it changes over time",
};

/** Why an address cannot carry the listeners, or undefined when it can (the agent's rule: wanAddressProblem). */
export function rejection(a: AddressDetail, literal = false): string | undefined {
  const problem = wanAddressProblem(a, literal);
  return problem === undefined ? undefined : PROBLEM_TEXT[problem];
}

/** Why a usable address ranks below the best ("auto" takes it only when nothing better is there). */
function rankText(a: AddressDetail): string {
  return [isUniqueLocal(a.address) ? "unique-local" : "", a.deprecated ? "deprecated" : ""]
    .filter((s) => s !== "")
    .join(", ");
}

const seconds = (n: number | undefined) => (n === undefined ? "forever" : `${n} s`);

const describe = (a: AddressDetail) =>
  `${a.address}/${a.prefixlen} (valid ${seconds(a.validLft)}, preferred ${seconds(a.preferredLft)})`;

/** An address "auto" would take first: usable, not unique-local, not deprecated. */
const isBest = (a: AddressDetail) => wanAddressProblem(a, false) === undefined && wanRank(a) === 0;

function fixFor(rejected: AddressDetail[], from: string, carrier: boolean): string {
  if (rejected.some((a) => a.scope === "global" && a.tentative && !a.dadfailed)) {
    return carrier
      ? "wait a few seconds: duplicate address detection takes about dad_transmits x retrans_time_ms " +
          `(sysctl net.ipv6.conf.${from}.dad_transmits, net.ipv6.neigh.${from}.retrans_time_ms); run doctor again`
      : `duplicate address detection cannot finish without a carrier on ${from}: fix the link first`;
  }
  if (rejected.some((a) => a.dadfailed)) {
    return "another host on the link uses the address: remove the duplicate, or delete the address and let the upstream assign another";
  }
  return (
    `the upstream gave ${from} no global IPv6 address: check router advertisements reach it ` +
    `(net.ipv6.conf.${from}.accept_ra must be 2 when forwarding is on) or configure DHCPv6 / a static address`
  );
}

/** The advice for a prefix-delegation uplink: take the listen address from the interface that holds it. */
function addressFromFix(holder: string, wan: string): string {
  return (
    `set wan.addressFrom: ${holder} (the listen address is taken from ${holder}; clients still arrive on ${wan}, ` +
    "whose link state still counts); do not add the address to the uplink"
  );
}

export function wanAddressCheck(ctx: DoctorContext): Check {
  const wan = ctx.config.wan.interface;
  const from = wanAddressInterface(ctx.config);
  const viaOther = from !== wan;
  const id = "wan-address";
  const title = "WAN IPv6 address";
  if (!ctx.links.ok) return { id, title, status: "skip", detail: "the interfaces could not be read" };
  const link = ctx.links.value.find((l) => l.name === from);
  if (link === undefined) {
    return viaOther
      ? {
          id,
          title,
          status: "fail",
          detail: `there is no interface ${from} (wan.addressFrom)`,
          fix: `set wan.addressFrom to the interface that holds the global address (ip -6 addr), or remove it to use ${wan}'s`,
        }
      : { id, title, status: "skip", detail: `there is no interface ${wan}` };
  }
  const configured = ctx.config.wan.address;
  const literal = configured !== "auto";
  const v6 = link.addresses.filter((a) => a.family === "inet6");
  const rejected = v6.filter((a) => rejection(a, literal) !== undefined);
  const rejectedText =
    rejected.length === 0
      ? ""
      : `; passed over: ${rejected.map((a) => `${a.address} (${rejection(a, literal) ?? ""})`).join(", ")}`;
  const chosen = ctx.facts.wanAddress;
  // Other interfaces holding a global unicast address: where a delegated prefix lives when the uplink has none.
  const others = ctx.links.value.filter((l) => l.name !== from && l.name !== "lo");
  const holderOf = (pred: (a: AddressDetail) => boolean) =>
    others.find((l) => l.addresses.some((a) => pred(a)))?.name;

  if (chosen === undefined) {
    if (literal) {
      const present = v6.find((a) => a.address === configured);
      const holder = present === undefined ? holderOf((a) => a.address === configured) : undefined;
      if (holder !== undefined) {
        return {
          id,
          title,
          status: "fail",
          detail: `the configured address ${configured} is on ${holder}, not on ${from}${rejectedText}`,
          fix: addressFromFix(holder, wan),
        };
      }
      return {
        id,
        title,
        status: "fail",
        detail:
          present === undefined
            ? `the configured address ${configured} is not on ${from}${rejectedText}`
            : `the configured address ${configured} is on ${from} but ${rejection(present, true) ?? "not usable"}${rejectedText}`,
        fix:
          present === undefined
            ? `add ${configured} to ${from}, or set wan.address: auto to use whatever global address ${from} has`
            : fixFor([present], from, link.carrier),
      };
    }
    const holder = holderOf(isBest);
    const onlyLinkLocal = v6.length > 0 && v6.every((a) => a.scope === "link");
    if (holder !== undefined && (onlyLinkLocal || v6.length === 0)) {
      const found = others.find((l) => l.name === holder)?.addresses.find(isBest);
      return {
        id,
        title,
        status: "fail",
        detail:
          `${from} has no global IPv6 address${onlyLinkLocal ? ` (only link-local ${v6.map((a) => a.address).join(", ")})` : ""}, ` +
          `but ${holder} holds ${found?.address ?? "one"}: an uplink with prefix delegation only`,
        fix: addressFromFix(holder, wan),
      };
    }
    return {
      id,
      title,
      status: "fail",
      detail: `no usable global IPv6 address on ${from}${v6.length === 0 ? " (no IPv6 address at all)" : rejectedText}`,
      fix: fixFor(rejected, from, link.carrier),
    };
  }
  const used = v6.find((a) => a.address === chosen);
  const candidates = v6.filter((a) => a.address !== chosen && rejection(a, literal) === undefined);
  const bestRank = used === undefined ? 0 : wanRank(used);
  const equals = literal ? candidates : candidates.filter((a) => wanRank(a) <= bestRank);
  const lower = literal ? [] : candidates.filter((a) => wanRank(a) > bestRank);
  const alsoText = equals.length === 0 ? "" : `; also usable: ${equals.map((a) => a.address).join(", ")}`;
  const lowerText =
    lower.length === 0
      ? ""
      : `; ranked lower: ${lower.map((a) => `${a.address} (${rankText(a)})`).join(", ")}`;
  const where = viaOther ? `${from} (wan.addressFrom; clients arrive on ${wan})` : from;
  const deprecatedNote =
    used?.deprecated !== true
      ? ""
      : used.validLft === undefined
        ? "; deprecated on purpose (valid forever): served all the same, the kernel only avoids it as a source address"
        : `; deprecated, and valid for ${used.validLft} s more`;
  const detail = `${used === undefined ? chosen : describe(used)} on ${where}${deprecatedNote}${alsoText}${lowerText}${rejectedText}`;
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
  // A prefix the upstream is withdrawing: still served (nothing better is there), but it will expire.
  if (!literal && used?.deprecated === true && used.validLft !== undefined) {
    return {
      id,
      title,
      status: "warn",
      detail: `using ${detail}: no preferred address is left`,
      fix: "the upstream is withdrawing the prefix: check the router's advertisements or DHCPv6 prefix delegation",
    };
  }
  return { id, title, status: "ok", detail: `using ${detail}` };
}
