// Real `nft -j list ruleset` output (test/unit/fixtures/nft/*.json, captured by capture.sh there), read the way
// doctor reads it: the firewall effect's nftObjects, then nftChains.
import { readFileSync } from "node:fs";
import { nftChains, type NftChain } from "../../src/doctor/parse/nft-ruleset.js";
import { nftObjects } from "../../src/effects/firewall/nft.js";

const DIR = new URL("./fixtures/nft/", import.meta.url);

/** The chains of fixtures/nft/<name>.json; with `table`, only that table's. */
export function nftFixture(name: string, table?: string): NftChain[] {
  const chains = nftChains(nftObjects(readFileSync(new URL(`${name}.json`, DIR), "utf8")));
  return table === undefined ? chains : chains.filter((c) => c.table === table);
}
