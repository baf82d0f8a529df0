// Would the host firewall let a client's TCP connection to [wan]:port in? A read-only walk of the nft ruleset's
// IPv6 input chains for one packet: a new TCP SYN arriving on the WAN interface. Expressions it does not
// understand make a rule "maybe match"; both paths are followed, and when they disagree the answer is "unknown"
// rather than a guess.
import { parseIPv6 } from "../core/addr.js";
import type { NftChain } from "./parse/nft-ruleset.js";

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

const TOKEN = /"(?:[^"\\]|\\.)*"|\{[^}]*\}|\S+/g;
const VERDICTS = new Set(["accept", "drop", "reject", "jump", "goto", "return", "continue", "queue"]);
const OPERATORS = new Set(["!=", "==", "<", ">", "<=", ">="]);
const LOG_OPTIONS = new Set(["prefix", "level", "flags", "group", "snaplen", "queue-threshold"]);
const SERVICES: Record<string, number> = { ssh: 22, telnet: 23, domain: 53, http: 80, https: 443 };
const CT_STATES = new Set(["new", "established", "related", "invalid", "untracked"]);

const unquote = (s: string) => (s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s);

/** A rule as people read it: without counters' numbers and comments. */
export function displayRule(rule: string): string {
  return rule
    .replace(/\bcounter packets \d+ bytes \d+/g, "counter")
    .replace(/\s*comment\s+"(?:[^"\\]|\\.)*"/g, "")
    .trim();
}

function ipv6InPrefix(address: string, prefixText: string): Tri {
  const [net = "", lenText] = prefixText.split("/");
  const a = parseIPv6(address);
  const n = parseIPv6(net);
  const len = lenText === undefined ? 128 : Number(lenText);
  if (a === undefined || n === undefined || !Number.isInteger(len) || len < 0 || len > 128) return "maybe";
  for (let bit = 0; bit < len; bit++) {
    const group = Math.floor(bit / 16);
    const mask = 1 << (15 - (bit % 16));
    if (((a[group] ?? 0) & mask) !== ((n[group] ?? 0) & mask)) return "no";
  }
  return "yes";
}

/** Applies a test to a value token: a literal, a comma list, an anonymous set `{ a, b }`, or a named set. */
function valueMatches(token: string, test: (v: string) => Tri): Tri {
  if (token.startsWith("@")) return "maybe";
  const body = token.startsWith("{") ? token.slice(1, -1) : token;
  const elements = body
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "");
  if (elements.length === 0) return "maybe";
  const results = elements.map(test);
  if (results.includes("yes")) return "yes";
  return results.every((r) => r === "no") ? "no" : "maybe";
}

/** Logical and over three values. */
const both = (a: Tri, b: Tri): Tri =>
  a === "no" || b === "no" ? "no" : a === "maybe" || b === "maybe" ? "maybe" : "yes";

const not = (t: Tri): Tri => (t === "yes" ? "no" : t === "no" ? "yes" : "maybe");

function portTest(port: number): (v: string) => Tri {
  return (v) => {
    const range = /^(\d+)-(\d+)$/.exec(v);
    if (range !== null) return port >= Number(range[1]) && port <= Number(range[2]) ? "yes" : "no";
    const n = /^\d+$/.test(v) ? Number(v) : SERVICES[v];
    if (n === undefined) return "maybe";
    return n === port ? "yes" : "no";
  };
}

const protoTest = (v: string): Tri => (v === "tcp" || v === "6" ? "yes" : "no");

function ifaceTest(name: string): (v: string) => Tri {
  return (raw) => {
    const v = unquote(raw);
    if (/^\d+$/.test(v)) return "maybe"; // an interface index
    if (v.endsWith("*")) return name.startsWith(v.slice(0, -1)) ? "yes" : "no";
    return v === name ? "yes" : "no";
  };
}

type Test = (v: string) => Tri;

/**
 * The test for `<selector> <key> [op] value`, "no" when the packet cannot match whatever the value, or undefined when
 * the answer depends on what we cannot know here (the client's address or port, marks): then "maybe".
 */
function keyedTest(selector: string, key: string, p: InputPacket): Test | "no" | undefined {
  switch (`${selector} ${key}`) {
    case "meta l4proto":
    case "ip6 nexthdr":
      return protoTest;
    case "meta nfproto":
      return (v) => (v === "ipv6" ? "yes" : "no");
    case "meta protocol":
      return (v) => (v === "ip6" ? "yes" : v === "ip" ? "no" : "maybe");
    case "meta iifname":
    case "meta iif":
      return ifaceTest(p.wanInterface);
    case "meta oifname":
    case "meta oif":
      return "no"; // input traffic has no output interface
    case "meta pkttype":
      return (v) => (v === "host" || v === "unicast" ? "yes" : "no");
    case "ct state":
      return (v) => (v === "new" ? "yes" : CT_STATES.has(v) ? "no" : "maybe");
    case "ct status":
      return (v) => (v === "dnat" || v === "snat" ? "no" : "maybe");
    case "ct direction":
      return (v) => (v === "original" ? "yes" : "no");
    case "tcp dport":
    case "th dport":
      return portTest(p.port);
    case "ip6 daddr": {
      const wan = p.wanAddress;
      return (v) => (wan === undefined ? "maybe" : ipv6InPrefix(wan, v));
    }
    default:
      return undefined;
  }
}

const KEYED = new Set(["meta", "ct", "tcp", "th", "ip6"]);

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

/** Does the rule's match part hold for the packet? An expression it cannot read ends the reading with "maybe". */
function matchRule(tokens: readonly string[], p: InputPacket): Tri {
  let result: Tri = "yes";
  let i = 0;
  /** Reads `[op] value` and tests it; ordering operators are only understood for ports. */
  const value = (test: Test, port?: number): Tri => {
    let op = "==";
    if (OPERATORS.has(tokens[i] ?? "")) op = tokens[i++] ?? "==";
    const token = tokens[i++];
    if (token === undefined) return "maybe";
    if (op === "==") return valueMatches(token, test);
    if (op === "!=") return not(valueMatches(token, test));
    if (port === undefined || !/^\d+$/.test(token)) return "maybe";
    const n = Number(token);
    const holds = op === "<" ? port < n : op === ">" ? port > n : op === "<=" ? port <= n : port >= n;
    return holds ? "yes" : "no";
  };

  while (i < tokens.length && result !== "no") {
    const t = tokens[i++] ?? "";
    if (t === "counter") {
      if (tokens[i] === "packets") i += 4;
      else if (tokens[i] === "name") i += 2;
    } else if (t === "comment") {
      i++;
    } else if (t === "log") {
      while (LOG_OPTIONS.has(tokens[i] ?? "")) i += 2;
    } else if (t === "limit") {
      // "limit rate [over] 25/second [burst 50 packets]": one client's first SYN is under any sensible limit.
      if (tokens[i] === "rate") i++;
      const over = tokens[i] === "over";
      while (i < tokens.length && !(tokens[i] ?? "").includes("/")) i++;
      i++;
      if (tokens[i] === "burst") i += 3;
      result = both(result, over ? "no" : "yes");
    } else if (t === "iifname" || t === "iif") {
      result = both(result, value(ifaceTest(p.wanInterface)));
    } else if (t === "oifname" || t === "oif") {
      result = "no";
    } else if (OTHER_HEADERS.has(t)) {
      result = "no";
    } else if (t === "fib" && tokens[i] === "daddr" && tokens[i + 1] === "type") {
      // The listener's address is local by definition.
      i += 2;
      result = both(
        result,
        value((v) => (v === "local" ? "yes" : "no")),
      );
    } else if (t === "tcp" && tokens[i] === "flags") {
      // "tcp flags syn / fin,syn,rst,ack": the first packet of a connection is a bare SYN.
      i++;
      let op = "==";
      if (OPERATORS.has(tokens[i] ?? "")) op = tokens[i++] ?? "==";
      const flags = tokens[i++] ?? "";
      if (tokens[i] === "/") i += 2;
      const syn = valueMatches(flags, (v) => (v === "syn" ? "yes" : "no"));
      result = both(result, op === "==" ? syn : op === "!=" ? not(syn) : "maybe");
    } else if (KEYED.has(t)) {
      const key = tokens[i++] ?? "";
      if (tokens[i] === "set") {
        i += 2; // a statement (meta mark set 1), not a match
        continue;
      }
      const test = keyedTest(t, key, p);
      result =
        test === "no"
          ? "no"
          : both(result, value(test ?? (() => "maybe"), key === "dport" ? p.port : undefined));
    } else {
      return "maybe";
    }
  }
  return result;
}

interface ParsedRule {
  text: string;
  match: string[];
  verdict: string | undefined;
  target: string | undefined;
}

function parseRule(text: string): ParsedRule {
  const tokens = text.match(TOKEN) ?? [];
  const at = tokens.findIndex((t) => VERDICTS.has(t));
  if (at < 0) return { text, match: tokens, verdict: undefined, target: undefined };
  return { text, match: tokens.slice(0, at), verdict: tokens[at], target: tokens[at + 1] };
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
    const rule = parseRule(chain.rules[i] ?? "");
    const m = matchRule(rule.match, w.packet);
    if (m === "no") continue;
    if (m === "maybe") w.uncertain ??= `"${displayRule(rule.text)}" in ${where}`;
    let rest: Outcome[] | undefined;
    const next = () => (rest ??= walkChain(chain, i + 1, w, depth));
    const quoted = `"${displayRule(rule.text)}" in ${where}`;
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
