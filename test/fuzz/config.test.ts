// Property-based tests of the config file (src/config/load.ts, src/config/schema.ts), as YAML text and as
// structured objects: parseConfig returns a config that re-validates and whose command-line values are valid, or
// throws a ConfigError whose every problem is "field: what is wrong". Nothing else escapes.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { posix } from "node:path";
import { stringify } from "yaml";
import { canonicalIPv6, isIPv4, isInterfaceName, normalizeMac, parseIPv6 } from "../../src/core/addr.js";
import { expandPorts } from "../../src/core/ports.js";
import { ConfigError, parseConfig } from "../../src/config/load.js";
import {
  configSchema,
  formatIssues,
  leaseFiles,
  notAHost,
  notServable,
  type Config,
} from "../../src/config/schema.js";
import { anyText, checkProperty, dotted, mutated, mutatedText } from "./support.js";

const opts = { noNullPrototype: true } as const;
const ifname = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/).filter(isInterfaceName);
const path = fc.stringMatching(/^(\/[A-Za-z0-9_.-]{1,12}){1,4}$/).filter((p) => posix.normalize(p) === p);
const mac = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 })
  .map((bytes) => bytes.map((b) => b.toString(16).padStart(2, "0")).join(":"));
const port = fc.integer({ min: 1, max: 65535 });
const ports = fc.uniqueArray(fc.record({ listen: port, target: port }, opts), {
  minLength: 1,
  maxLength: 64,
  // Mostly a few mappings, sometimes many: long lists only slow every case down without reaching new checks.
  size: "xsmall",
  selector: (p) => p.listen,
});
const some = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
/** Addresses the schema takes: a LAN host's IPv4, and an IPv6 address listeners can serve on (global or ULA). */
const hostIPv4 = fc.ipV4().filter((a) => notAHost(a) === undefined);
const servableIPv6 = fc.ipV6().filter((a) => {
  const groups = parseIPv6(a);
  return groups !== undefined && notServable(groups) === undefined;
});

const validConfig = fc
  .record(
    {
      wan: fc.record({ interface: ifname, address: some(fc.oneof(fc.constant("auto"), servableIPv6)) }, opts),
      lan: fc.record({ interface: ifname, address: some(fc.oneof(fc.constant("auto"), fc.ipV4())) }, opts),
      device: some(fc.record({ mac: some(mac), address: some(hostIPv4), leases: some(path) }, opts)),
      leases: some(fc.uniqueArray(path, { minLength: 1, maxLength: 8 })),
      ports,
      firewall: some(fc.constantFrom("auto", "nft", "iptables")),
      runtimeDir: some(path),
      stateDir: some(path),
      debounceMs: some(fc.integer({ min: 0, max: 60000 })),
      listener: some(
        fc.record(
          {
            maxChildren: some(fc.integer({ min: 1, max: 10000 })),
            backlog: some(fc.integer({ min: 1, max: 65535 })),
            connectTimeoutSec: some(fc.integer({ min: 1, max: 300 })),
          },
          opts,
        ),
      ),
      commandTimeoutMs: some(fc.integer({ min: 100, max: 120000 })),
      logLevel: some(fc.constantFrom("trace", "debug", "info", "warn", "error", "fatal")),
      health: some(
        fc.record(
          {
            schedule: some(fc.constantFrom("*/30 * * * * *", "*/5 * * * * *", "0 * * * *")),
            timeoutMs: some(fc.integer({ min: 100, max: 30000 })),
          },
          opts,
        ),
      ),
      mqtt: some(
        fc.record(
          {
            url: fc.constantFrom(
              "mqtt://127.0.0.1:1883",
              "mqtts://broker.example:8883",
              "mqtt://[2001:db8::1]",
            ),
            baseTopic: some(fc.stringMatching(/^sixgate\/[a-z0-9_-]{1,16}$/)),
            keepalive: some(fc.integer({ min: 5, max: 3600 })),
          },
          opts,
        ),
      ),
    },
    { ...opts, requiredKeys: ["wan", "lan", "ports"] },
    // The top-level list and the shorthand's file together are refused (a test below).
  )
  .filter((c) => c.leases === undefined || c.device?.leases === undefined);

/** Drops undefined members, so the YAML and the expectation describe the same object. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v));

/** Parses, allowing only ConfigError, whose every problem must name a field. */
function parse(text: string): Config | ConfigError {
  try {
    const config = parseConfig(text, "fuzz.yaml");
    checkConfig(config);
    return config;
  } catch (e) {
    if (!(e instanceof ConfigError))
      assert.fail(`parseConfig threw ${String(e)} on ${JSON.stringify(text.slice(0, 300))}`);
    assert.ok(e.problems.length > 0, "a ConfigError without problems");
    for (const p of e.problems) assert.match(p, /^[^\s:][^:]*: \S/, `a problem without its field: ${p}`);
    return e;
  }
}

/** parseConfig's second half, for a structured object: the schema, its issues formatted as a ConfigError's. */
function validate(value: unknown): Config | ConfigError {
  const result = configSchema.safeParse(value);
  if (result.success) {
    checkConfig(result.data);
    return result.data;
  }
  const problems = formatIssues(result.error);
  for (const p of problems) assert.match(p, /^[^\s:][^:]*: \S/, `a problem without its field: ${p}`);
  return new ConfigError("fuzz.yaml", problems);
}

/**
 * mqtt.identitySource records where the default identity came from (machine-id, hostname, an explicit setting). A
 * parsed config carries its derived baseTopic and nodeId explicitly, so parsing it again says "baseTopic": the one
 * field that cannot survive a round trip (the strict schema refuses it as input), and it reaches no command line.
 */
function withoutIdentitySource(c: Config): unknown {
  if (c.mqtt === undefined) return c;
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { identitySource, ...mqtt } = c.mqtt;
  return { ...c, mqtt };
}

/**
 * A parsed config as a file would say it: the schema lists the devices (the shorthand's one device too) and moves
 * device.leases to leases; this writes the shorthand back as device + ports.
 */
function asFile(c: Config): unknown {
  const { shorthand, devices, ...rest } = c;
  const only = devices[0];
  if (!shorthand || only === undefined) return { ...rest, devices };
  const device = Object.fromEntries(
    Object.entries({ mac: only.mac, address: only.address }).filter(([, v]) => v !== undefined),
  );
  return { ...rest, device, ports: only.ports };
}

/** An accepted config re-validates to itself, and every value that reaches a command line is valid. */
function checkConfig(c: Config): void {
  assert.deepEqual(
    withoutIdentitySource(configSchema.parse(asFile(withoutIdentitySource(c) as Config))),
    withoutIdentitySource(c),
  );
  assert.ok(isInterfaceName(c.wan.interface) && isInterfaceName(c.lan.interface));
  assert.ok(c.wan.address === "auto" || canonicalIPv6(c.wan.address) === c.wan.address, c.wan.address);
  assert.ok(c.lan.address === "auto" || isIPv4(c.lan.address), c.lan.address);
  const [device, ...others] = c.devices;
  assert.ok(device !== undefined && others.length === 0, "the shorthand is one device");
  if (device.mac !== undefined) assert.equal(normalizeMac(device.mac), device.mac);
  if (device.address !== undefined) assert.ok(isIPv4(device.address));
  for (const dir of [c.runtimeDir, c.stateDir, ...leaseFiles(c)])
    assert.ok(dir.startsWith("/") && !dir.includes("\0"));
  assert.ok(device.ports.length >= 1 && device.ports.length <= 64);
  // Every port of every range, as plan() expands them: whole numbers 1-65535, each listen port once.
  const pairs = expandPorts(device.ports);
  assert.equal(new Set(pairs.map((p) => p.listen)).size, pairs.length);
  for (const p of pairs)
    for (const n of [p.listen, p.target]) assert.ok(Number.isInteger(n) && n >= 1 && n <= 65535, String(n));
}

test("config files: random text is a config or a ConfigError naming fields", (t) => {
  checkProperty(t, "config, random text", [anyText], (text) => void parse(text));
});

test("config files: valid configs round-trip through YAML and JSON", (t) => {
  checkProperty(t, "config, valid", [validConfig, fc.boolean()], (config, asJson) => {
    const text = asJson ? JSON.stringify(config) : stringify(plain(config));
    const parsed = parse(text);
    assert.ok(
      !(parsed instanceof ConfigError),
      `refused a valid config: ${parsed instanceof ConfigError ? parsed.message : ""}`,
    );
    assert.deepEqual(withoutIdentitySource(parsed), withoutIdentitySource(configSchema.parse(plain(config))));
  });
});

test("config files: a near-valid config is accepted safely or refused naming the changed field", (t) => {
  checkProperty(t, "config, one structural change", [mutated(validConfig)], ({ value, path, kind }) => {
    if (value === undefined) return;
    // The object as YAML would deliver it, straight to the schema (the YAML layer has its own property below).
    const parsed = validate(value);
    if (!(parsed instanceof ConfigError) || path.length === 0) return;
    const field = String(path[0]);
    assert.ok(
      parsed.problems.some((p) => p.startsWith(field)) ||
        (kind === "add-key" && parsed.problems.some((p) => p.includes("unknown key"))),
      `problems ${JSON.stringify(parsed.problems)} do not name ${dotted(path)}`,
    );
  });
  checkProperty(
    t,
    "config, YAML text edits",
    [mutatedText(validConfig.map((c) => stringify(plain(c))))],
    (text) => void parse(text),
  );
});

// Found by the property above: an unknown YAML tag or directive was printed as a Node process warning (outside the
// log) while the value was silently read as plain text.
test("config files: an unknown YAML tag or directive is a ConfigError, not a process warning", async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on("warning", onWarning);
  try {
    for (const text of ["wan: !iface wan0\n", "%FOO bar\n---\nwan: {}\n"]) {
      assert.throws(
        () => parseConfig(text, "c.yaml"),
        (e) => e instanceof ConfigError && /^\(file\): not valid YAML or JSON: /.test(e.problems[0] ?? ""),
        text,
      );
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(warnings, []);
  } finally {
    process.off("warning", onWarning);
  }
});
