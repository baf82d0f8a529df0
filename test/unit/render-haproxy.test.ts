// HAProxy's configuration against golden files (fixtures/haproxy/*.cfg), each also accepted by the real
// `haproxy -c` where HAProxy is installed. SIXGATE_UPDATE_GOLDEN=1 rewrites the files from the renderer.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { HAPROXY_IDLE_DEFAULT, renderHaproxyConfig } from "../../src/core/render/haproxy.js";
import { listenerSpec } from "./fixtures.js";

const DIR = new URL("./fixtures/haproxy/", import.meta.url);
const STATS = "/run/sixgate/haproxy/stats.sock";
const HAPROXY = "/usr/sbin/haproxy";

const cases = {
  /** The defaults: keepalive on, no idle timeout. */
  "one-port": [listenerSpec()],
  /** Given out of order, rendered in port order; keepalive off on one, an idle timeout and fractions on the other. */
  "two-ports": [
    listenerSpec({ listen: 8443, target: 443, keepaliveSec: 0, idleTimeoutSec: 600, connectTimeoutSec: 0.5 }),
    listenerSpec({
      listen: 23,
      target: 2323,
      maxChildren: 4,
      backlog: 128,
      keepaliveSec: 7,
      halfCloseSec: 2.5,
    }),
  ],
};

for (const [name, specs] of Object.entries(cases)) {
  test(`haproxy config: ${name} matches its golden file`, () => {
    const file = new URL(`${name}.cfg`, DIR);
    const text = renderHaproxyConfig({ specs, statsSocket: STATS });
    if (process.env.SIXGATE_UPDATE_GOLDEN === "1") writeFileSync(file, text);
    assert.equal(text, readFileSync(file, "utf8"));
  });

  test(`haproxy config: ${name} is accepted by haproxy -c`, { skip: !existsSync(HAPROXY) }, () => {
    const out = execFileSync(HAPROXY, ["-c", "-f", fileURLToPath(new URL(`${name}.cfg`, DIR))], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    assert.match(out, /Configuration file is valid/);
  });
}

test("haproxy config: the idle default is below HAProxy's largest timer", () => {
  const days = Number(HAPROXY_IDLE_DEFAULT.replace("d", ""));
  assert.ok(days * 86_400_000 < 2 ** 31 - 1);
});

test("haproxy config: a value that is not a plain word is refused, naming the field", () => {
  assert.throws(
    () =>
      renderHaproxyConfig({
        specs: [listenerSpec({ lanInterface: "lan0\n    server x" })],
        statsSocket: STATS,
      }),
    /lanInterface "lan0\\n {4}server x" is not a plain word/,
  );
  assert.throws(
    () => renderHaproxyConfig({ specs: [listenerSpec()], statsSocket: "/run/a b/stats.sock" }),
    /statsSocket/,
  );
});
