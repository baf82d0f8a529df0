// The HAProxy adapter's readings: `show stat` and `show info` as HAProxy 2.6 answers them (fixtures/haproxy/
// show-stat.csv was captured from 2.6.12, its scur and econ set to non-zero values), and which listener an alert blames.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseInfoPid, parseShowStat } from "../../src/effects/listeners/haproxy-api.js";
import { listenerCounts, proxiesInAlerts } from "../../src/effects/listeners/haproxy.js";
import { renderHaproxyConfig } from "../../src/core/render/haproxy.js";
import { listenerSpec } from "./fixtures.js";

test("show stat: rows by column name, empty numbers as 0", () => {
  const rows = parseShowStat(
    readFileSync(new URL("./fixtures/haproxy/show-stat.csv", import.meta.url), "utf8"),
  );
  assert.deepEqual(
    rows.filter((r) => !r.pxname.startsWith("<")),
    [
      { pxname: "fe_8080", svname: "FRONTEND", scur: 3, econ: 0, addr: "" },
      { pxname: "be_8080", svname: "device", scur: 0, econ: 0, addr: "127.0.0.1:18081" },
      { pxname: "be_8080", svname: "BACKEND", scur: 0, econ: 2, addr: "" },
    ],
  );
  assert.throws(() => parseShowStat("Unknown command\n"), /no header line/);
});

test("show stat of a range: each port's connections from its own socket row, the range's failed connects on each", () => {
  // fixtures/haproxy/show-stat-range.csv: HAProxy 2.6.12 serving renderHaproxyConfig's range section for listen
  // 18000-18002 on [::1], one connection open to 18000, none to 18001, two to 18002.
  const rows = parseShowStat(
    readFileSync(new URL("./fixtures/haproxy/show-stat-range.csv", import.meta.url), "utf8"),
  );
  const specs = [0, 1, 2].map((i) =>
    listenerSpec({ listen: 18000 + i, target: 18100 + i, range: true, wanAddress: "::1" }),
  );
  const withErrors = rows.map((r) => (r.svname === "BACKEND" ? { ...r, econ: 4 } : r));
  assert.deepEqual(Object.fromEntries(listenerCounts(specs, withErrors)), {
    "device/18000": { connections: 1, connectionErrors: 4 },
    "device/18001": { connections: 0, connectionErrors: 4 },
    "device/18002": { connections: 2, connectionErrors: 4 },
  });
  // A single listener: its frontend's row.
  assert.deepEqual(Object.fromEntries(listenerCounts([listenerSpec({ listen: 18000 })], rows)), {
    "device/18000": { connections: 0, connectionErrors: 0 },
  });
});

test("show info: the answering worker's pid", () => {
  assert.equal(parseInfoPid("Name: HAProxy\nVersion: 2.6.12\nPid: 3767\nUptime: 0d\n"), 3767);
  assert.equal(parseInfoPid("Unknown command\n"), undefined);
});

test("an alert blames the listener whose section holds the cited line, or the one it names", () => {
  const text = renderHaproxyConfig({
    specs: [listenerSpec({ listen: 80 }), listenerSpec({ listen: 8085 }), listenerSpec({ listen: 8086 })],
    statsSocket: "/run/sixgate/haproxy/stats.sock",
  });
  const line = text.split("\n").indexOf("    bind [2001:db8:1::1]:8085 v6only") + 1;
  // As HAProxy 2.6 prints a failed bind; the address's ":8085]" is not a line number.
  const bind = `[ALERT]    (946) : Binding [/run/sixgate/haproxy/haproxy.cfg:${line}] for proxy port-8085: cannot bind socket (Cannot assign requested address) for [2001:db8::99:8086]`;
  assert.deepEqual([...proxiesInAlerts([bind], text)], ["port-8085"]);
  assert.deepEqual(
    [...proxiesInAlerts(["[ALERT] (1) : Proxy 'port-8086': unknown keyword"], text)],
    ["port-8086"],
  );
  assert.deepEqual([...proxiesInAlerts(["[ALERT] (1) : out of memory"], text)], []);
});
