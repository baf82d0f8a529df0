// Would the host firewall let a client's TCP connection to [wan]:port in? A read-only walk of the nft ruleset's
// IPv6 input chains (as `nft -j` lists them, src/doctor/parse/nft-ruleset.ts) for one packet: a new TCP SYN arriving
// on the WAN interface. Expressions it does not understand make a rule "maybe match"; both paths are followed, and
// when they disagree the answer is "unknown" rather than a guess.
import { parseIPv6 } from "../core/addr.js";
import type { NftJson } from "../core/render/nft.js";
import { describeRule, exprKind, isJsonObject, type NftChain, type NftRule } from "./parse/nft-ruleset.js";

export interface InputPacket {
  wanInterface: string;
  /** The address the listener binds; undefined when there is none (rules on ip6 daddr then "maybe" match). */
  wanAddress: string | undefined;
  port: number;
}

export interface InputVerdict {
  verdict: "accept" | "drop" | "unknown";
  why: string;
}

type Tri = "yes" | "no" | "maybe";

type Outcome = { kind: "accept" | "drop" | "return" | "unknown"; why: string };

const BUDGET = 20000;
const MAX_DEPTH = 16;

class TooComplex extends Error {}

const VERDICTS = new Set(["accept", "drop", "reject", "jump", "goto", "return", "continue", "queue"]);
/** Statements that neither match nor decide: the packet goes on. */
const PASSIVE = new Set(["counter", "log", "mangle", "notrack"]);
const CT_STATES = new Set(["new", "established", "related", "invalid", "untracked"]);

function ipv6InPrefix(address: string, net: string, len: number): Tri {
  const a = parseIPv6(address);
  const n = parseIPv6(net);
  if (a === undefined || n === undefined || !Number.isInteger(len) || len < 0 || len > 128) return "maybe";
  for (let bit = 0; bit < len; bit++) {
    const group = Math.floor(bit / 16);
    const mask = 1 << (15 - (bit % 16));
    if (((a[group] ?? 0) & mask) !== ((n[group] ?? 0) & mask)) return "no";
  }
  return "yes";
}

/** A test of one element of a match's right side: a literal, or a `{"range"}` / `{"prefix"}` object. */
type Test = (v: NftJson) => Tri;

/**
 * Applies a test to a match's right side: a literal, a flag list, an anonymous set `{"set": [...]}` (elements may be
 * wrapped in `{"elem": {"val"}}`), or a named set `"@name"` (its content is not read: "maybe").
 */
function valueMatches(right: NftJson | undefined, test: Test): Tri {
  if (right === undefined) return "maybe";
  if (typeof right === "string" && right.startsWith("@")) return "maybe";
  const [kind, body] = exprKind(right) ?? [];
  const elements = Array.isArray(right) ? right : kind === "set" && Array.isArray(body) ? body : [right];
  if (elements.length === 0) return "maybe";
  const results = elements.map((e) => {
    const [k, b] = exprKind(e) ?? [];
    return test(k === "elem" && isJsonObject(b) && b.val !== undefined ? b.val : e);
  });
  if (results.includes("yes")) return "yes";
  return results.every((r) => r === "no") ? "no" : "maybe";
}

/** Logical and over three values. */
const both = (a: Tri, b: Tri): Tri =>
  a === "no" || b === "no" ? "no" : a === "maybe" || b === "maybe" ? "maybe" : "yes";

const not = (t: Tri): Tri => (t === "yes" ? "no" : t === "no" ? "yes" : "maybe");

function portTest(port: number): Test {
  return (v) => {
    if (typeof v === "number") return v === port ? "yes" : "no";
    const [kind, body] = exprKind(v) ?? [];
    if (kind === "range" && Array.isArray(body)) {
      const [low, high] = body;
      if (typeof low === "number" && typeof high === "number")
        return port >= low && port <= high ? "yes" : "no";
    }
    return "maybe";
  };
}

const protoTest: Test = (v) => (v === "tcp" || v === 6 ? "yes" : "no");

function ifaceTest(name: string): Test {
  return (v) => {
    if (typeof v !== "string") return "maybe"; // an interface index
    // nft -j prints a wildcard as a trailing "*" and a literal star as "\*".
    if (v.endsWith("*") && !v.endsWith("\\*")) return name.startsWith(v.slice(0, -1)) ? "yes" : "no";
    return v.replace(/\\\*$/, "*") === name ? "yes" : "no";
  };
}

function daddrTest(wan: string | undefined): Test {
  return (v) => {
    if (wan === undefined) return "maybe";
    if (typeof v === "string") return ipv6InPrefix(wan, v, 128);
    const [kind, body] = exprKind(v) ?? [];
    if (
      kind === "prefix" &&
      isJsonObject(body) &&
      typeof body.addr === "string" &&
      typeof body.len === "number"
    )
      return ipv6InPrefix(wan, body.addr, body.len);
    return "maybe";
  };
}

/** Headers an IPv6 TCP packet does not have: a rule that matches on them cannot match. */
const OTHER_HEADERS = new Set([
  "ip",
  "udp",
  "udplite",
  "sctp",
  "dccp",
  "icmp",
  "icmpv6",
  "igmp",
  "esp",
  "ah",
  "comp",
  "arp",
  "vlan",
  "gre",
]);

/** `tcp dport` or `th dport`: the only fields compared in order (`tcp dport >= 1024`). */
function isPortField(left: NftJson | undefined): boolean {
  const [kind, body] = exprKind(left) ?? [];
  return (
    kind === "payload" &&
    isJsonObject(body) &&
    (body.protocol === "tcp" || body.protocol === "th") &&
    body.field === "dport"
  );
}

/**
 * The test for a match's left side, "no" when the packet cannot match whatever the value, or undefined when the
 * answer depends on what we cannot know here (the client's address or port, marks): then "maybe".
 */
function operandTest(left: NftJson | undefined, p: InputPacket): Test | "no" | undefined {
  const [kind, body] = exprKind(left) ?? [];
  if (kind === "concat" && Array.isArray(body))
    return body.some((e) => operandTest(e, p) === "no") ? "no" : undefined;
  if (!isJsonObject(body)) return undefined;
  const key = typeof body.key === "string" ? body.key : undefined;
  switch (kind) {
    case "payload": {
      const protocol = typeof body.protocol === "string" ? body.protocol : "";
      if (OTHER_HEADERS.has(protocol)) return "no";
      const field = `${protocol} ${typeof body.field === "string" ? body.field : ""}`;
      if (isPortField(left)) return portTest(p.port);
      if (field === "ip6 nexthdr") return protoTest;
      if (field === "ip6 daddr") return daddrTest(p.wanAddress);
      return undefined;
    }
    case "meta":
      switch (key) {
        case "l4proto":
          return protoTest;
        case "nfproto":
          return (v) => (v === "ipv6" ? "yes" : "no");
        case "protocol":
          return (v) => (v === "ip6" ? "yes" : v === "ip" ? "no" : "maybe");
        case "iifname":
        case "iif":
          return ifaceTest(p.wanInterface);
        case "oifname":
        case "oif":
          return "no"; // input traffic has no output interface
        case "pkttype":
          return (v) => (v === "host" || v === "unicast" ? "yes" : "no");
        default:
          return undefined;
      }
    case "ct":
      switch (key) {
        case "state":
          return (v) => (v === "new" ? "yes" : typeof v === "string" && CT_STATES.has(v) ? "no" : "maybe");
        case "status":
          return (v) => (v === "dnat" || v === "snat" ? "no" : "maybe");
        case "direction":
          return (v) => (v === "original" ? "yes" : "no");
        default:
          return undefined;
      }
    case "fib":
      // The listener's address is local by definition.
      return body.result === "type" && JSON.stringify(body.flags) === '["daddr"]'
        ? (v) => (v === "local" ? "yes" : "no")
        : undefined;
    default:
      return undefined;
  }
}

const flagList = (v: NftJson | undefined): string[] | undefined =>
  typeof v === "string" ? [v] : Array.isArray(v) && v.every((f) => typeof f === "string") ? v : undefined;

/**
 * `tcp flags syn / fin,syn,rst,ack` (`{"&": [tcp flags, mask]} == syn`) or `tcp flags syn` (`in`): the first packet
 * of a connection carries SYN alone. Undefined when `left` is not TCP's flags.
 */
function synMatches(
  op: NftJson | undefined,
  left: NftJson | undefined,
  right: NftJson | undefined,
): Tri | undefined {
  const [kind, body] = exprKind(left) ?? [];
  let operand = left;
  let mask: string[] | undefined;
  if (kind === "&" && Array.isArray(body)) {
    [operand] = body;
    mask = flagList(body[1]);
    if (mask === undefined) return "maybe";
  }
  const [k, b] = exprKind(operand) ?? [];
  if (k !== "payload" || !isJsonObject(b) || b.protocol !== "tcp" || b.field !== "flags") return undefined;
  const want = flagList(right);
  if (want === undefined) return "maybe";
  const seen = mask === undefined || mask.includes("syn") ? ["syn"] : [];
  const equal = want.length === seen.length && want.every((f) => seen.includes(f));
  if (op === "in") return want.includes("syn") ? "yes" : "no";
  if (op === "==") return equal ? "yes" : "no";
  if (op === "!=") return equal ? "no" : "yes";
  return "maybe";
}

/** Does one `{"match": {op, left, right}}` hold for the packet? Ordering operators are only understood for ports. */
function matchHolds(match: NftJson, p: InputPacket): Tri {
  if (!isJsonObject(match)) return "maybe";
  const { op, left, right } = match;
  const syn = synMatches(op, left, right);
  if (syn !== undefined) return syn;
  const test = operandTest(left, p);
  if (test === "no") return "no";
  if (test === undefined) return "maybe";
  if (op === "==" || op === "in") return valueMatches(right, test);
  if (op === "!=") return not(valueMatches(right, test));
  if (typeof right !== "number" || !isPortField(left)) return "maybe";
  const port = p.port;
  if (op === "<") return port < right ? "yes" : "no";
  if (op === ">") return port > right ? "yes" : "no";
  if (op === "<=") return port <= right ? "yes" : "no";
  if (op === ">=") return port >= right ? "yes" : "no";
  return "maybe";
}

/** Does the rule's match part hold for the packet? An expression it cannot read ends the reading with "maybe". */
function matchRule(exprs: readonly NftJson[], p: InputPacket): Tri {
  let result: Tri = "yes";
  for (const e of exprs) {
    if (result === "no") break;
    const [kind, body] = exprKind(e) ?? [];
    if (kind === "match") result = both(result, matchHolds(body ?? null, p));
    else if (kind === "limit")
      // "limit rate [over] 25/second": one client's first SYN is under any sensible limit.
      result = both(result, isJsonObject(body) && body.inv === true ? "no" : "yes");
    else if (kind === undefined || !PASSIVE.has(kind)) return "maybe";
  }
  return result;
}

interface ParsedRule {
  text: string;
  match: NftJson[];
  verdict: string | undefined;
  target: string | undefined;
}

function parseRule(rule: NftRule): ParsedRule {
  const text = describeRule(rule);
  const at = rule.expr.findIndex((e) => VERDICTS.has(exprKind(e)?.[0] ?? ""));
  if (at < 0) return { text, match: rule.expr, verdict: undefined, target: undefined };
  const [verdict, body] = exprKind(rule.expr[at]) ?? [];
  const target = isJsonObject(body) && typeof body.target === "string" ? body.target : undefined;
  return { text, match: rule.expr.slice(0, at), verdict, target };
}

interface Walk {
  chains: Map<string, NftChain>;
  packet: InputPacket;
  steps: number;
  /** The first rule whose match could not be decided: named when the answer is "unknown". */
  uncertain: string | undefined;
}

const chainKey = (c: Pick<NftChain, "family" | "table" | "name">) => `${c.family} ${c.table} ${c.name}`;

function dedupe(outcomes: Outcome[]): Outcome[] {
  const seen = new Map<string, Outcome>();
  for (const o of outcomes) if (!seen.has(o.kind)) seen.set(o.kind, o);
  return [...seen.values()];
}

/** Every outcome the packet may meet from rule `from` of `chain` on ("return" = it falls off the end). */
function walkChain(chain: NftChain, from: number, w: Walk, depth: number): Outcome[] {
  if (depth > MAX_DEPTH) throw new TooComplex("jumps nest too deep");
  const where = chainKey(chain);
  for (let i = from; i < chain.rules.length; i++) {
    if (++w.steps > BUDGET) throw new TooComplex("ruleset too large to evaluate");
    const rule = parseRule(chain.rules[i] ?? { expr: [] });
    const m = matchRule(rule.match, w.packet);
    if (m === "no") continue;
    if (m === "maybe") w.uncertain ??= `"${rule.text}" in ${where}`;
    let rest: Outcome[] | undefined;
    const next = () => (rest ??= walkChain(chain, i + 1, w, depth));
    const quoted = `"${rule.text}" in ${where}`;
    let taken: Outcome[];
    switch (rule.verdict) {
      case "accept":
        taken = [{ kind: "accept", why: `accepted by ${quoted}` }];
        break;
      case "drop":
      case "reject":
        taken = [{ kind: "drop", why: `${rule.verdict === "drop" ? "dropped" : "rejected"} by ${quoted}` }];
        break;
      case "return":
        taken = [{ kind: "return", why: `returned by ${quoted}` }];
        break;
      case "queue":
        taken = [{ kind: "unknown", why: `${quoted} hands the packet to a userspace program` }];
        break;
      case "jump":
      case "goto": {
        const target = w.chains.get(`${chain.family} ${chain.table} ${rule.target ?? ""}`);
        if (target === undefined) {
          taken = [{ kind: "unknown", why: `${quoted} names a chain that is not in the ruleset` }];
          break;
        }
        const sub = walkChain(target, 0, w, depth + 1);
        // A jump comes back to the next rule; a goto returns from this chain too.
        taken = sub.flatMap((o) => (o.kind === "return" && rule.verdict === "jump" ? next() : [o]));
        break;
      }
      default:
        taken = next(); // no verdict (counter, log, continue): on to the next rule
    }
    return dedupe(m === "yes" ? taken : [...taken, ...next()]);
  }
  return [{ kind: "return", why: `end of ${where}` }];
}

/** The verdict of the host's IPv6 input filter for one listen port. */
export function inputVerdict(chains: readonly NftChain[], packet: InputPacket): InputVerdict {
  const bases = chains.filter(
    (c) =>
      c.hook === "input" && (c.family === "inet" || c.family === "ip6") && (c.type ?? "filter") === "filter",
  );
  if (bases.length === 0)
    return { verdict: "accept", why: "accepted: no IPv6 input filter chain in the ruleset" };
  const w: Walk = {
    chains: new Map(chains.map((c) => [chainKey(c), c])),
    packet,
    steps: 0,
    uncertain: undefined,
  };
  const accepted: string[] = [];
  let unknown: string | undefined;
  // Every input base chain sees the packet; a drop in any of them is final.
  for (const base of bases) {
    let outcomes: Outcome[];
    try {
      outcomes = walkChain(base, 0, w, 0);
    } catch (e) {
      if (!(e instanceof TooComplex)) throw e;
      unknown ??= `cannot evaluate ${chainKey(base)}: ${e.message}`;
      continue;
    }
    const settled = dedupe(
      outcomes.map((o) =>
        o.kind === "return"
          ? {
              kind: base.policy,
              why: `${base.policy === "drop" ? "dropped" : "accepted"} by the policy of ${chainKey(base)} (no rule decides this port)`,
            }
          : o,
      ),
    );
    const [only] = settled;
    if (settled.length === 1 && only?.kind === "drop") return { verdict: "drop", why: only.why };
    if (settled.length === 1 && only?.kind === "accept") accepted.push(only.why);
    else
      unknown ??=
        settled.find((o) => o.kind === "unknown")?.why ??
        `depends on ${w.uncertain ?? "rules this check cannot read"} (${chainKey(base)})`;
  }
  if (unknown !== undefined) return { verdict: "unknown", why: unknown };
  return { verdict: "accept", why: accepted.join("; ") };
}
