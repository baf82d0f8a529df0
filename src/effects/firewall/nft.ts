// nftables backend: `table ip sixgate`, replaced in one `nft -f -` transaction, read back with `nft -j`.
import { isDeepStrictEqual } from "node:util";
import { NFT_TABLE, renderNftListing, renderNftScript, type NftJson } from "../../core/render/nft.js";

import { runChecked, type Runner } from "../exec.js";
import type { Firewall } from "./firewall.js";

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * `nft -j list ...` output -> its objects without the metainfo entry and without the `handle` of each object (kernel
 * numbering, not content). Throws on output that is not nft's JSON (libnftables-json(5): `{"nftables": [...]}`).
 */
export function nftObjects(stdout: string): NftJson[] {
  const parsed: unknown = JSON.parse(stdout);
  if (!isObject(parsed) || !Array.isArray(parsed.nftables)) throw new Error("nft -j: no nftables array");
  const out: NftJson[] = [];
  for (const entry of parsed.nftables as unknown[]) {
    if (!isObject(entry) || "metainfo" in entry) continue;
    const [kind, body] = Object.entries(entry)[0] ?? [];
    if (kind === undefined || !isObject(body)) continue;
    const rest = Object.fromEntries(Object.entries(body).filter(([key]) => key !== "handle"));
    out.push({ [kind]: rest as NftJson });
  }
  return out;
}

export function createNftFirewall(runner: Runner): Firewall {
  return {
    backend: "nft",
    async apply(rules) {
      await runChecked(runner, ["nft", "-f", "-"], { input: renderNftScript(rules) });
    },
    async remove() {
      await runChecked(runner, ["nft", "-f", "-"], { input: renderNftScript([]) });
    },
    async matches(rules) {
      const listed = await runner.run(["nft", "-j", "list", "table", "ip", NFT_TABLE]);
      if (rules.length === 0) return listed.exitCode !== 0;
      if (listed.exitCode !== 0) return false;
      // Exactly our chain and rules, nothing more: another rule, set or chain in our table is drift too.
      return isDeepStrictEqual(nftObjects(listed.stdout), renderNftListing(rules));
    },
  };
}

/** True when nft can talk to the kernel here. */
export async function nftWorks(runner: Runner): Promise<boolean> {
  try {
    return (await runner.run(["nft", "list", "tables"], { timeoutMs: 5000 })).exitCode === 0;
  } catch {
    return false;
  }
}
