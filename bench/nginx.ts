// nginx on the lab device, for the benches that need a device server that is not their bottleneck (busybox httpd,
// the lab's own device server, forks per connection and listens with a backlog of 9).
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DEVICE_MARKER, waitFor, type Lab } from "../test/lab/lab.js";
import { NGINX_PORT } from "./dataplane/paths.js";

export const BULK_BYTES = 8 * 1024 * 1024;
export const SMALL_BODY = "sixgate-bench-nginx\n";

/**
 * The device's answer at / on nginx, in the form of the lab's busybox device ("sixgate-lab-device port=8080"), so a
 * client checks it reached the device's port and not something else that answers HTTP.
 */
export const NGINX_INDEX = `${DEVICE_MARKER} port=${String(NGINX_PORT)}\n`;

/** nginx on the device: IPv4 for the relays, and IPv6 for the kernel path once that path gives it an address. */
export async function startNginx(lab: Lab): Promise<void> {
  const root = join(lab.dir, "nginx");
  await mkdir(join(root, "www"), { recursive: true });
  await writeFile(join(root, "www", "small.html"), SMALL_BODY);
  await writeFile(join(root, "www", "index.html"), NGINX_INDEX);
  await writeFile(join(root, "www", "big.bin"), Buffer.alloc(BULK_BYTES, 0x5a));
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map(
    (t) => `  ${t}_temp_path ${join(root, `tmp-${t}`)};`,
  );
  const conf = join(root, "nginx.conf");
  await writeFile(
    conf,
    [
      "worker_processes 2;",
      `pid ${join(root, "nginx.pid")};`,
      "events { worker_connections 4096; }",
      "http {",
      "  access_log off;",
      "  sendfile on;",
      "  tcp_nopush on;",
      "  keepalive_requests 1000000;",
      ...temp,
      "  server {",
      `    listen 0.0.0.0:${String(NGINX_PORT)} backlog=4096;`,
      `    listen [::]:${String(NGINX_PORT)} ipv6only=on backlog=4096;`,
      `    root ${join(root, "www")};`,
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  lab.spawn("dev", ["nginx", "-p", root, "-c", conf, "-g", "daemon off;"], "nginx");
  await waitFor(async () => (await lab.listeningTcp("dev")).some((l) => l.port === NGINX_PORT), {
    timeoutMs: 10_000,
    message: () => lab.readLog("nginx"),
  });
}
