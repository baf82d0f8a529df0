// Port ranges (`listen: 8000-8010`): kept as written in the config, expanded by plan() to one listener per port,
// refused with the field named when reversed, beyond 65535, of unequal lengths, overlapping or too many.
import assert from "node:assert/strict";
import { test } from "node:test";
import { refusedTargets } from "../../src/config/allowed-targets.js";
import { parseConfig } from "../../src/config/load.js";
import { MAX_LISTENERS, portsSchema } from "../../src/config/schema.js";
import { plan } from "../../src/core/plan.js";
import { expandPorts, portCount } from "../../src/core/ports.js";
import { configProblems as problems, healthyFacts, makeConfig, only } from "./fixtures.js";

const head = `
wan: { interface: wan0 }
lan: { interface: lan0 }
`;

const devices = (...ports: string[]) =>
  head +
  "devices:\n" +
  ports.map((p, i) => `  - { name: d${i}, address: 192.168.1.${10 + i}, ports: [${p}] }\n`).join("");

test("a range is kept as written; a one-port range is a plain port", () => {
  const c = parseConfig(
    head +
      `ports:
  - { listen: 8000-8010, target: 8000-8010 }
  - { listen: 9000 - 9002, target: "19000-19002" }
  - { listen: 443-443, target: "443-443" }
`,
    "t",
  );
  const ports = c.devices.flatMap((d) => d.ports);
  assert.deepEqual(ports, [
    { listen: "8000-8010", target: "8000-8010" },
    { listen: "9000-9002", target: "19000-19002" },
    { listen: 443, target: 443 },
  ]);
  assert.equal(portCount(ports), 15);
  // What is kept reads back the same (state.json and MQTT echo it).
  assert.deepEqual(portsSchema.parse(ports), ports);
});

test("range errors name the field and the problem", () => {
  const one = (mapping: string) =>
    problems(head + `ports:\n  - { listen: 80, target: 80 }\n  - ${mapping}\n`);
  const cases: [string, RegExp][] = [
    [
      "{ listen: 8000-8010, target: 9000-9005 }",
      /^ports\.1\.target: range 9000-9005 has 6 ports, listen 8000-8010 has 11$/,
    ],
    [
      "{ listen: 8000-8010, target: 9000 }",
      /^ports\.1\.target: port 9000 has 1 port, listen 8000-8010 has 11$/,
    ],
    [
      "{ listen: 8010-8000, target: 8000-8010 }",
      /^ports\.1\.listen: range 8010-8000 is reversed: write 8000-8010$/,
    ],
    ["{ listen: 65530-65540, target: 1-11 }", /^ports\.1\.listen: range 65530-65540 goes beyond 1-65535$/],
    ["{ listen: 0-3, target: 1-4 }", /^ports\.1\.listen: range 0-3 goes beyond 1-65535$/],
    [
      "{ listen: 8000-80x, target: 80 }",
      /^ports\.1\.listen: "8000-80x" is not a port number or a range like 8000-8010$/,
    ],
    [
      "{ listen: 79-81, target: 79-81 }",
      /^ports\.1\.listen: listen 79-81 overlaps ports\.0 \(80\) at port 80$/,
    ],
  ];
  for (const [mapping, problem] of cases) {
    const found = one(mapping);
    assert.ok(
      found.some((p) => problem.test(p)),
      `${mapping}: ${JSON.stringify(found)} does not match ${String(problem)}`,
    );
  }
});

test("a range overlapping another device's listen ports is refused, naming the port and the device", () => {
  assert.deepEqual(
    problems(devices("{ listen: 8000-8010, target: 80-90 }", "{ listen: 7990-8000, target: 80-90 }")),
    ["devices.1.ports.0.listen: listen 7990-8000 (port 8000) is also devices.0's (d0)"],
  );
  assert.deepEqual(
    problems(devices("{ listen: 8000-8010, target: 80-90 }", "{ listen: 8011, target: 80 }")),
    [],
  );
});

test("MAX_LISTENERS counts each port of a range, and the error says how many each range spawns", () => {
  assert.equal(MAX_LISTENERS, 256);
  const found = problems(
    devices("{ listen: 1000-1199, target: 1000-1199 }", "{ listen: 2000-2099, target: 80-179 }"),
  );
  assert.deepEqual(found, [
    "devices: 300 listen ports in all (devices.0.ports.0 1000-1199 spawns 200, devices.1.ports.0 2000-2099 spawns 100); " +
      "at most 256, one listener each",
  ]);
  // One device alone: its own ports say so too (set-ports checks the same schema).
  assert.match(
    problems(head + "ports:\n  - { listen: 1-300, target: 1-300 }\n").join("\n"),
    /^ports: 300 listen ports in all \(ports\.0 1-300 spawns 300\); at most 256/m,
  );
  assert.deepEqual(problems(devices("{ listen: 1000-1255, target: 1000-1255 }")), []);
});

test("plan: a range is one listener per port, listen first+i to target first+i, each marked as of a range", () => {
  const config = makeConfig({
    ports: [
      { listen: 80, target: 80 },
      { listen: "8000-8002", target: "9000-9002" },
    ],
  });
  const d = only(plan(healthyFacts({}, config), config));
  assert.deepEqual(d.ports, [
    { listen: 80, target: 80 },
    { listen: "8000-8002", target: "9000-9002" },
  ]);
  assert.deepEqual(
    d.listeners.map((l) => [l.listen, l.target, l.range ?? false]),
    [
      [80, 80, false],
      [8000, 9000, true],
      [8001, 9001, true],
      [8002, 9002, true],
    ],
  );
  assert.deepEqual(d.snat?.ports, [80, 9000, 9001, 9002]);
  assert.deepEqual(expandPorts(d.ports).length, d.listeners.length);
});

test("allowedTargets is checked for each port of a range", () => {
  const config = makeConfig({ allowedTargets: [80, "9000-9005"] });
  const device = config.devices[0] ?? { ports: [] };
  assert.equal(refusedTargets([{ target: "9000-9005" }], config, device), undefined);
  assert.equal(
    refusedTargets([{ target: 80 }, { target: "9003-9008" }], config, device),
    "ports.1.target: range 9003-9008 (9006-9008) is outside allowedTargets (80, 9000-9005)",
  );
  // Without allowedTargets: the config file's own target ports, a range among them.
  const own = makeConfig({ ports: [{ listen: "8000-8010", target: "8000-8010" }] });
  const ownDevice = own.devices[0] ?? { ports: [] };
  assert.equal(refusedTargets([{ target: "8002-8004" }, { target: 8010 }], own, ownDevice), undefined);
  assert.match(
    refusedTargets([{ target: "8009-8012" }], own, ownDevice) ?? "",
    /^ports\.0\.target: range 8009-8012 \(8011-8012\) is not one of the config file's target ports \(8000-8010\)/,
  );
});
