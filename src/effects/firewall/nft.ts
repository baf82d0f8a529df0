// nftables backend: `table ip sixgate`, replaced in one `nft -f -` transaction.
import { NFT_TABLE, renderNftScript } from "../../core/render/nft.js";

import { runChecked, type Runner } from "../exec.js";
import type { Firewall } from "./firewall.js";

const squash = (s: string) => s.replace(/\s+/g, " ").trim();

export function createNftFirewall(runner: Runner): Firewall {
  const listTable = () => runner.run(["nft", "list", "table", "ip", NFT_TABLE]);
  return {
    backend: "nft",
    async apply(rule) {
      await runChecked(runner, ["nft", "-f", "-"], { input: renderNftScript(rule) });
    },
    async remove() {
      await runChecked(runner, ["nft", "-f", "-"], { input: renderNftScript(null) });
    },
    async matches(rule) {
      const listed = await listTable();
      if (rule === null) return listed.exitCode !== 0;
      if (listed.exitCode !== 0) return false;
      // The script's last part is the table exactly as `nft list` prints it.
      const expected = renderNftScript(rule).split("\n").slice(2).join("\n");
      return squash(listed.stdout) === squash(expected);
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
