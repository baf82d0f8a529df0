// allowedTargets in the config file: ports and ranges, a clear error for anything else, and the check set-ports uses.
import assert from "node:assert/strict";
import { test } from "node:test";
import { refusedTargets } from "../../src/config/allowed-targets.js";
import { configSchema, formatIssues, type Config } from "../../src/config/schema.js";
import { makeConfig } from "./fixtures.js";

const parse = (allowedTargets: unknown) =>
  configSchema.safeParse({
    wan: { interface: "wan0" },
    lan: { interface: "lan0" },
    ports: [{ listen: 80, target: 80 }],
    allowedTargets,
  });

test("ports and ranges, as numbers or strings, become inclusive ranges", () => {
  const parsed = parse([443, "80", "8000-8010", " 9000-9000 "]);
  assert.ok(parsed.success);
  assert.deepEqual(parsed.data.allowedTargets, [
    { from: 443, to: 443 },
    { from: 80, to: 80 },
    { from: 8000, to: 8010 },
    { from: 9000, to: 9000 },
  ]);
  assert.equal(makeConfig().allowedTargets, undefined, "optional");
});

test("anything else is refused, naming the entry", () => {
  for (const [value, problem] of [
    [[0], /allowedTargets\.0: 0 is not a port 1-65535 or a range like "8000-8010"/],
    [[80, "8010-8000"], /allowedTargets\.1: "8010-8000" is not a port/],
    [["80-70000"], /allowedTargets\.0: "80-70000" is not a port/],
    [["http"], /allowedTargets\.0: "http" is not a port/],
    [[1.5], /allowedTargets\.0: 1\.5 is not a port/],
    [[], /allowedTargets: needs at least one port or range/],
    ["80", /allowedTargets: /],
  ] as const) {
    const parsed = parse(value);
    assert.equal(parsed.success, false, JSON.stringify(value));
    assert.match(formatIssues(parsed.error).join("\n"), problem);
  }
});

/** The one device of a one-device config. */
const device = (c: Config) => c.devices[0] ?? { ports: [] };

test("refusedTargets names each field and port outside the allowed set", () => {
  const config = makeConfig({ allowedTargets: [80, "8000-8010"] });
  assert.equal(
    refusedTargets([{ target: 80 }, { target: 8000 }, { target: 8010 }], config, device(config)),
    undefined,
  );
  assert.equal(
    refusedTargets([{ target: 80 }, { target: 22 }, { target: 8011 }], config, device(config)),
    "ports.1.target: port 22 is outside allowedTargets (80, 8000-8010); " +
      "ports.2.target: port 8011 is outside allowedTargets (80, 8000-8010)",
  );
  // Without allowedTargets: the config file's own targets (80 and 23 here).
  assert.equal(refusedTargets([{ target: 23 }], makeConfig(), device(makeConfig())), undefined);
  assert.match(
    refusedTargets([{ target: 22 }], makeConfig(), device(makeConfig())) ?? "",
    /^ports\.0\.target: port 22 is not one of the config file's target ports \(80, 23\); list it in allowedTargets/,
  );
});

test("refusedTargets lists each refused port once, with every field that names it, and the allowed ports once each", () => {
  // The config file's targets: 80 twice (two listen ports for one service), 23, and 8000-8010 with 8005-8020.
  const config = makeConfig({
    ports: [
      { listen: 80, target: 80 },
      { listen: 8080, target: 80 },
      { listen: 23, target: 23 },
      { listen: "9000-9010", target: "8000-8010" },
      { listen: "9100-9115", target: "8005-8020" },
    ],
  });
  assert.equal(
    refusedTargets(
      [
        { target: 22 },
        { target: 22 },
        { target: "20-25" },
        { target: "7998-8001" },
        { target: 7999 },
        { target: 23 },
      ],
      config,
      device(config),
    ),
    "ports.0.target, ports.1.target, ports.2.target: port 22 is not one of the config file's target ports (80, 23, 8000-8020); list it in allowedTargets to allow it; " +
      "ports.2.target: range 20-25 (20-21, 24-25) is not one of the config file's target ports (80, 23, 8000-8020); list it in allowedTargets to allow it; " +
      "ports.3.target: range 7998-8001 (7998) is not one of the config file's target ports (80, 23, 8000-8020); list it in allowedTargets to allow it; " +
      "ports.3.target, ports.4.target: port 7999 is not one of the config file's target ports (80, 23, 8000-8020); list it in allowedTargets to allow it",
  );
  const allowed = makeConfig({ allowedTargets: [80, 80, "8000-8010", "8005-8020"] });
  assert.equal(
    refusedTargets(
      [{ target: 22 }, { target: 22 }, { target: "30-31" }, { target: "30-32" }],
      allowed,
      device(allowed),
    ),
    "ports.0.target, ports.1.target: port 22 is outside allowedTargets (80, 8000-8020); " +
      "ports.2.target, ports.3.target: ports 30-31 are outside allowedTargets (80, 8000-8020); " +
      "ports.3.target: range 30-32 (32) is outside allowedTargets (80, 8000-8020)",
  );
  // A range refused whole is not named twice.
  assert.equal(
    refusedTargets([{ target: "20-25" }], allowed, device(allowed)),
    "ports.0.target: range 20-25 is outside allowedTargets (80, 8000-8020)",
  );
});
