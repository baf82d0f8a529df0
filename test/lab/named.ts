// A real authoritative DNS server for the lab: BIND 9 (Debian's bind9) in the client namespace, serving one zone
// that a TSIG key made for the test may update. It runs as the `bind` user from a directory of its own (config,
// zone, key, journal) under the temp dir, is a lab process (killed by lab.destroy()), and its directory is removed
// by the test's after-hook. Nothing outside the lab's namespaces can reach it.
import { chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { CLIENT_ADDRESS, type Lab } from "./lab.js";
import { runOk, waitFor } from "./util.js";

export const ZONE = "example.test";
/** A record the zone holds from the start, which sixgate never wrote. */
export const FOREIGN_NAME = { label: "printer", address: "2001:db8:1::99" };

export interface Named {
  /** The server's address (the client's, on the WAN side of the gateway). */
  address: string;
  /** The key file the zone accepts (tsig-keygen's output). */
  keyFile: string;
  /** A key file with the same name and another secret: the server refuses it. */
  wrongKeyFile: string;
  /** `dig` from the client namespace: the AAAA addresses the server answers for `name` (empty: none). */
  aaaa(name: string): Promise<string[]>;
}

/** The uid and gid of the `bind` user the bind9 package creates (named drops to it). */
async function bindUser(): Promise<{ uid: number; gid: number }> {
  const id = await runOk(["id", "-u", "bind"]);
  const gid = await runOk(["id", "-g", "bind"]);
  return { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** Starts named in the lab's client namespace and waits until it answers; `after` registers the cleanup. */
export async function startNamed(lab: Lab, after: (fn: () => Promise<void>) => void): Promise<Named> {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-named-"));
  after(() => rm(dir, { recursive: true, force: true }));
  const keyFile = join(dir, "tsig.key");
  const wrongKeyFile = join(dir, "wrong.key");
  await writeFile(keyFile, (await runOk(["tsig-keygen", "-a", "hmac-sha256", "sixgate-lab"])).stdout);
  await writeFile(wrongKeyFile, (await runOk(["tsig-keygen", "-a", "hmac-sha256", "sixgate-lab"])).stdout);
  const zoneFile = join(dir, `${ZONE}.zone`);
  await writeFile(
    zoneFile,
    [
      "$TTL 60",
      `@ IN SOA ns.${ZONE}. admin.${ZONE}. ( 1 60 60 600 60 )`,
      `@ IN NS ns.${ZONE}.`,
      `ns IN AAAA ${CLIENT_ADDRESS}`,
      // Somebody else's name in the same zone: sixgate must never touch it (FOREIGN_NAME).
      `${FOREIGN_NAME.label} IN AAAA ${FOREIGN_NAME.address}`,
      "",
    ].join("\n"),
  );
  const conf = join(dir, "named.conf");
  await writeFile(
    conf,
    `include "${keyFile}";
options {
  directory "${dir}";
  pid-file none;
  session-keyfile none;
  listen-on { none; };
  listen-on-v6 { ${CLIENT_ADDRESS}; };
  recursion no;
  dnssec-validation no;
};
zone "${ZONE}" { type primary; file "${zoneFile}"; allow-update { key sixgate-lab; }; };
`,
  );
  // named drops to `bind` before it writes its journal: the directory is bind's.
  const user = await bindUser();
  if (userInfo().uid === 0) for (const p of [dir, zoneFile]) await chown(p, user.uid, user.gid);
  await runOk(["named-checkconf", conf]);
  lab.spawn("cli", ["named", "-g", "-u", "bind", "-n", "1", "-c", conf], "named");
  const aaaa = async (name: string): Promise<string[]> => {
    const r = await lab.exec("cli", [
      "dig",
      "+short",
      "+time=1",
      "+tries=1",
      `@${CLIENT_ADDRESS}`,
      name,
      "AAAA",
    ]);
    if (r.exitCode !== 0) throw new Error(`dig ${name} exited ${String(r.exitCode)}: ${r.stdout}${r.stderr}`);
    return r.stdout.split("\n").filter((l) => l.length > 0);
  };
  await waitFor(async () => (await aaaa(`ns.${ZONE}`)).includes(CLIENT_ADDRESS), {
    timeoutMs: 10_000,
    message: () => `named did not answer:\n${lab.readLog("named")}`,
  });
  return { address: CLIENT_ADDRESS, keyFile, wrongKeyFile, aaaa };
}
