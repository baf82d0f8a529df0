// Asks an authoritative server for a name's AAAA addresses with `dig`, through the runner (doctor's DNS check).
import type { DnsServer } from "../config/dns.js";
import { canonicalIPv6 } from "../core/addr.js";
import { runChecked, type Runner } from "../effects/exec.js";

/**
 * The AAAA addresses `server` answers for `name`, canonical and sorted; empty when it has none (NXDOMAIN, NODATA).
 * Asked directly, without recursion or a cache, so the answer is the server's own. Rejects when dig fails or the
 * server does not answer within about 2 s (`dig` exits 9).
 */
export async function queryAaaa(runner: Runner, server: DnsServer, name: string): Promise<string[]> {
  if (!/^[a-z0-9.-]+$/.test(name)) throw new Error(`${name} is not a DNS name`);
  const argv = ["dig", "+short", "+norecurse", "+time=2", "+tries=1", "-p", String(server.port)];
  const { stdout } = await runChecked(runner, [...argv, `@${server.address}`, name, "AAAA"]);
  // +short prints one address per line (a CNAME's target first, which is not an address).
  return stdout
    .split("\n")
    .map((line) => canonicalIPv6(line.trim()))
    .filter((a): a is string => a !== undefined)
    .sort();
}
