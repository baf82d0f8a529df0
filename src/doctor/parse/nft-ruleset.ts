// `nft -j list ...` objects (src/effects/firewall/nft.ts parses the JSON) -> chains with their hook, policy and
// rules, and a rule as people read it. Sets, maps and other objects are skipped: the input verdict only needs chains.
// The shapes are libnftables-json(5)'s; test/unit/fixtures/nft/ holds real output of nft 1.0.6.
import type { NftJson } from "../../core/render/nft.js";

/** One rule: its expressions in order (matches, statements, at most one verdict). */
export interface NftRule {
  expr: NftJson[];
}

export interface NftChain {
  family: string;
  table: string;
  name: string;
  /** Set for base chains: "input", "forward", ... */
  hook: string | undefined;
  type: string | undefined;
  policy: "accept" | "drop";
  rules: NftRule[];
}

type JsonObject = { [key: string]: NftJson };

export const isJsonObject = (v: NftJson | undefined): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const text = (v: NftJson | undefined): string => (typeof v === "string" ? v : "");

/** The single key of an expression object (`{"match": {...}}` -> ["match", {...}]), or undefined. */
export function exprKind(e: NftJson | undefined): [string, NftJson] | undefined {
  if (!isJsonObject(e)) return undefined;
  const [entry] = Object.entries(e);
  return entry;
}

/** Chains of an `nft -j list ruleset` listing (nftObjects' result), with their rules in listing order. */
export function nftChains(objects: readonly NftJson[]): NftChain[] {
  const chains = new Map<string, NftChain>();
  const key = (family: string, table: string, name: string) => `${family} ${table} ${name}`;
  for (const object of objects) {
    const [kind, body] = exprKind(object) ?? [];
    if (!isJsonObject(body)) continue;
    const family = text(body.family);
    const table = text(body.table);
    if (kind === "chain") {
      const hook = typeof body.hook === "string" ? body.hook : undefined;
      chains.set(key(family, table, text(body.name)), {
        family,
        table,
        name: text(body.name),
        hook,
        type: typeof body.type === "string" ? body.type : undefined,
        policy: body.policy === "drop" ? "drop" : "accept",
        rules: [],
      });
    } else if (kind === "rule" && Array.isArray(body.expr)) {
      // nft lists every chain of a table before its rules.
      chains.get(key(family, table, text(body.chain)))?.rules.push({ expr: body.expr });
    }
  }
  return [...chains.values()];
}

/** A value as nft prints it: sets in braces, ranges with a dash, prefixes with a slash. */
function describeValue(v: NftJson | undefined, quote: boolean): string {
  if (typeof v === "string") return quote ? JSON.stringify(v) : v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return v.map((e) => describeValue(e, quote)).join(",");
  const [kind, body] = exprKind(v) ?? [];
  if (kind === "set" && Array.isArray(body))
    return `{ ${body.map((e) => describeValue(e, quote)).join(", ")} }`;
  if (kind === "range" && Array.isArray(body)) return body.map((e) => describeValue(e, quote)).join("-");
  if (kind === "prefix" && isJsonObject(body)) return `${text(body.addr)}/${describeValue(body.len, false)}`;
  if (kind === "elem" && isJsonObject(body)) return describeValue(body.val, quote);
  if (kind === "concat" && Array.isArray(body)) return body.map((e) => describeValue(e, quote)).join(" . ");
  return describeOperand(v);
}

/** The left side of a match: `tcp dport`, `iifname`, `meta l4proto`, `ct state`, `fib daddr type`... */
function describeOperand(v: NftJson | undefined): string {
  const [kind, body] = exprKind(v) ?? [];
  if (!isJsonObject(body)) {
    if (kind === "&" && Array.isArray(body))
      return `${describeOperand(body[0])} & ${describeValue(body[1], false)}`;
    if (kind === "concat" && Array.isArray(body)) return body.map(describeOperand).join(" . ");
    return kind ?? JSON.stringify(v);
  }
  switch (kind) {
    case "payload":
      return `${text(body.protocol)} ${text(body.field)}`;
    case "meta":
      return ["iifname", "oifname", "iif", "oif"].includes(text(body.key))
        ? text(body.key)
        : `meta ${text(body.key)}`;
    case "ct":
      return `ct ${text(body.key)}`;
    case "fib":
      return `fib ${describeValue(body.flags, false)} ${text(body.result)}`;
    default:
      return kind ?? "";
  }
}

/** One expression: a match, a statement or a verdict (counters without numbers). */
function describeExpr(e: NftJson): string {
  const [kind, body] = exprKind(e) ?? [];
  if (kind === undefined) return JSON.stringify(e);
  const b = isJsonObject(body) ? body : {};
  switch (kind) {
    case "match": {
      const [leftKind, masked] = exprKind(b.left) ?? [];
      if (leftKind === "&" && Array.isArray(masked) && b.op === "==")
        // nft's own way: "tcp flags syn / fin,syn,rst,ack"
        return `${describeOperand(masked[0])} ${describeValue(b.right, false)} / ${describeValue(masked[1], false)}`;
      const left = describeOperand(b.left);
      const quote = /^(iif|oif)name$/.test(left);
      const op = b.op === "==" || b.op === "in" ? "" : `${text(b.op)} `;
      return `${left} ${op}${describeValue(b.right, quote)}`;
    }
    case "jump":
    case "goto":
      return `${kind} ${text(b.target)}`;
    case "reject":
      return typeof b.type === "string" ? `reject with ${b.type}` : "reject";
    case "limit":
      return `limit rate ${b.inv === true ? "over " : ""}${describeValue(b.rate, false)}/${text(b.per)}`;
    case "log":
      return typeof b.prefix === "string" ? `log prefix ${JSON.stringify(b.prefix)}` : "log";
    case "snat":
    case "dnat":
      return `${kind} to ${describeValue(b.addr, false)}`;
    case "mangle":
      return `${describeOperand(b.key)} set ${describeValue(b.value, false)}`;
    case "xt": // an iptables-nft extension: nft -j names it, not what it matches
      return `xt ${text(b.type)} ${JSON.stringify(text(b.name))}`;
    default:
      return kind; // accept, drop, return, counter, queue, xt...
  }
}

/** A rule as people read it, close to `nft list` text: without counters' numbers and comments. */
export function describeRule(rule: NftRule): string {
  return rule.expr.map(describeExpr).join(" ");
}
