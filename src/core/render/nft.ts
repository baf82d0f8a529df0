// Renders the SNAT rules (one per device) as one nft script that replaces our table atomically, and the table as `nft -j` lists it.
import type { SnatRule } from "../types.js";

export const NFT_TABLE = "sixgate";
const CHAIN = "postrouting";

/**
 * The rule matches only connections from the LAN address, which our listeners bind: the ones they open. IPv4
 * forwards that other rules make to the device come from their clients' addresses and keep them. (socat 1.7.4
 * cannot mark a socket before it connects, so a socket mark cannot select them.)
 *
 * "add table; delete table; add table {...}" runs as one transaction: the table is created if missing,
 * so the delete always succeeds, and the new content replaces the old with no window in between.
 */
export function renderNftScript(rules: readonly SnatRule[]): string {
  const reset = `table ip ${NFT_TABLE} {}\ndelete table ip ${NFT_TABLE}\n`;
  if (rules.length === 0) return reset;
  const line = (rule: SnatRule) => {
    const ports = rule.ports.length === 1 ? String(rule.ports[0]) : `{ ${rule.ports.join(", ")} }`;
    return `\t\toifname "${rule.lanInterface}" ip saddr ${rule.lanAddress} ip daddr ${rule.deviceAddress} tcp dport ${ports} snat to ${rule.lanAddress}\n`;
  };
  return (
    reset +
    `table ip ${NFT_TABLE} {\n` +
    `\tchain ${CHAIN} {\n` +
    `\t\ttype nat hook postrouting priority srcnat; policy accept;\n` +
    rules.map(line).join("") +
    `\t}\n` +
    `}\n`
  );
}

/** A JSON value as `nft -j` prints it. */
export type NftJson = string | number | boolean | null | NftJson[] | { [key: string]: NftJson };

const match = (left: NftJson, right: NftJson): NftJson => ({ match: { op: "==", left, right } });
const payload = (protocol: string, field: string): NftJson => ({ payload: { protocol, field } });

/**
 * The objects `nft -j list table ip sixgate` prints for `rule`, in order, without the metainfo entry and without
 * `handle` keys (libnftables-json(5)): the chain, then one rule per device. Read-back compares against these exactly.
 */
export function renderNftListing(rules: readonly SnatRule[]): NftJson[] {
  return [
    { table: { family: "ip", name: NFT_TABLE } },
    {
      chain: {
        family: "ip",
        table: NFT_TABLE,
        name: CHAIN,
        type: "nat",
        hook: "postrouting",
        prio: 100,
        policy: "accept",
      },
    },
    ...rules.map(ruleListing),
  ];
}

function ruleListing(rule: SnatRule): NftJson {
  const ports: NftJson = rule.ports.length === 1 ? (rule.ports[0] ?? 0) : { set: rule.ports };
  return {
    rule: {
      family: "ip",
      table: NFT_TABLE,
      chain: CHAIN,
      expr: [
        match({ meta: { key: "oifname" } }, rule.lanInterface),
        match(payload("ip", "saddr"), rule.lanAddress),
        match(payload("ip", "daddr"), rule.deviceAddress),
        match(payload("tcp", "dport"), ports),
        { snat: { addr: rule.lanAddress } },
      ],
    },
  };
}
