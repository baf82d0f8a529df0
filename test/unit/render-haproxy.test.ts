// HAProxy's configuration against golden files (fixtures/haproxy/*.cfg), each also accepted by the real
// `haproxy -c` where HAProxy is installed. SIXGATE_UPDATE_GOLDEN=1 rewrites the files from the renderer.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { HAPROXY_IDLE_DEFAULT, haproxySections, renderHaproxyConfig } from "../../src/core/render/haproxy.js";
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
  /** A range to other device ports (server port +1000) beside a single port. */
  range: [
    listenerSpec({ listen: 80, target: 80 }),
    ...[0, 1, 2].map((i) => listenerSpec({ listen: 8000 + i, target: 9000 + i, range: true })),
  ],
  /** Ranges to the same ports (the server takes the client's port) and to lower ports (-1000). */
  "range-offsets": [
    ...[0, 1, 2, 3].map((i) => listenerSpec({ listen: 5000 + i, target: 5000 + i, range: true })),
    ...[0, 1].map((i) => listenerSpec({ listen: 7000 + i, target: 6000 + i, range: true, maxChildren: 8 })),
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

test("haproxy sections: consecutive ports of a range with the same device, offset and settings are one", () => {
  const r = (listen: number, over: Parameters<typeof listenerSpec>[0] = {}) =>
    listenerSpec({ listen, target: listen + 1000, range: true, ...over });
  const sections = haproxySections([
    r(8002),
    r(8000),
    r(8001),
    // A gap (8003 not there, as while a range's listeners start), another offset, another device, other settings.
    r(8004),
    r(8005, { target: 8005 }),
    r(8006, { device: "printer" }),
    r(8007, { device: "printer", maxChildren: 3 }),
    // Single ports side by side stay apart: a listener of its own each.
    listenerSpec({ listen: 80 }),
    listenerSpec({ listen: 81, target: 81 }),
  ]);
  assert.deepEqual(
    sections.map((s) => [s.name, s.specs.map((spec) => spec.listen)]),
    [
      ["port-80", [80]],
      ["port-81", [81]],
      ["ports-8000-8002", [8000, 8001, 8002]],
      ["port-8004", [8004]],
      ["port-8005", [8005]],
      ["port-8006", [8006]],
      ["port-8007", [8007]],
    ],
  );
});
