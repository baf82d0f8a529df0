// `nft list ruleset` text -> chains with their hook, policy and rule lines. Sets, maps and other objects are
// skipped: the input verdict only needs chains.

export interface NftChain {
  family: string;
  table: string;
  name: string;
  /** Set for base chains: "input", "forward", ... */
  hook: string | undefined;
  type: string | undefined;
  policy: "accept" | "drop";
  /** One rule per entry, as nft prints it. */
  rules: string[];
}

/** Net change of brace depth on a line, ignoring braces inside quoted strings. */
function braceDelta(line: string): number {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "\\" && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === "{") depth++;
    else if (!quoted && c === "}") depth--;
  }
  return depth;
}

const HEADER = /\btype\s+(\S+)\s+hook\s+(\S+)\b.*?;(?:\s*policy\s+(accept|drop)\s*;)?/;

export function parseNftRuleset(text: string): NftChain[] {
  const chains: NftChain[] = [];
  let table: { family: string; name: string } | undefined;
  let chain: NftChain | undefined;
  // Depth of braces below the current table; > 1 inside a chain means we are mid-rule (a multi-line set).
  let depth = 0;
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const delta = braceDelta(line);
    if (table === undefined) {
      const m = /^table\s+(\S+)\s+(\S+)\s*\{$/.exec(line);
      if (m !== null) {
        table = { family: m[1] ?? "", name: m[2] ?? "" };
        depth = 0;
      }
      continue;
    }
    if (chain === undefined) {
      if (depth === 0) {
        if (line === "}") {
          table = undefined;
          continue;
        }
        const m = /^chain\s+(\S+)\s*\{$/.exec(line);
        if (m !== null) {
          chain = {
            family: table.family,
            table: table.name,
            name: m[1] ?? "",
            hook: undefined,
            type: undefined,
            policy: "accept",
            rules: [],
          };
          continue;
        }
      }
      // Sets, maps, flowtables and the like: skip their blocks whole.
      depth += delta;
      continue;
    }
    if (pending === "" && line === "}") {
      chains.push(chain);
      chain = undefined;
      continue;
    }
    pending = pending === "" ? line : `${pending} ${line}`;
    depth += delta;
    if (depth > 0) continue;
    depth = 0;
    const header = HEADER.exec(pending);
    if (header !== null && chain.hook === undefined) {
      chain.type = header[1];
      chain.hook = header[2];
      chain.policy = header[3] === "drop" ? "drop" : "accept";
    } else if (!/^comment\s+"/.test(pending)) {
      // A chain's own comment line is not a rule.
      chain.rules.push(pending);
    }
    pending = "";
  }
  return chains;
}
