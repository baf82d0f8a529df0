// Extra IPv4-only hosts on the lab's LAN (Lab.addLanHost), each with a web server whose answer names it.
import { chmodSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LAN_ADDRESS, run, runOk, waitFor, type Lab } from "./lab.js";

/** A web server on an extra LAN host whose answer names it: "sixgate-lab-device port=80 remote=... host=nas". */
export async function startHostServer(lab: Lab, nsName: string, host: string): Promise<void> {
  const root = join(lab.dir, "www-hosts", host);
  await mkdir(join(root, "cgi-bin"), { recursive: true });
  const cgi = join(root, "cgi-bin", "whoami");
  await writeFile(
    cgi,
    `#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nprintf 'sixgate-lab-device port=80 remote=%s host=${host}\\n' "$REMOTE_ADDR"\n`,
  );
  chmodSync(cgi, 0o755);
  lab.spawnIn(nsName, ["busybox", "httpd", "-f", "-v", "-p", "0.0.0.0:80", "-h", root], `httpd-${host}`);
  await waitFor(
    async () =>
      (
        await run(["ip", "netns", "exec", nsName, "ss", "-H", "-l", "-t", "-n", "sport", "=", ":80"])
      ).stdout.trim(),
    { timeoutMs: 5_000, message: () => lab.readLog(`httpd-${host}`) },
  );
}

/** An extra LAN host with a static address and a web server; `talk` pings the gateway once (the kernel learns it). */
export async function staticHost(
  lab: Lab,
  suffix: string,
  host: string,
  mac: string,
  address: string,
  talk: boolean,
) {
  const nsName = await lab.addLanHost(suffix, mac);
  await runOk(["ip", "-n", nsName, "addr", "add", `${address}/24`, "dev", "eth0"]);
  await startHostServer(lab, nsName, host);
  if (talk)
    await runOk(["ip", "netns", "exec", nsName, "busybox", "ping", "-c", "1", "-W", "2", LAN_ADDRESS]);
  return nsName;
}
