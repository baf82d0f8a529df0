import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ConfigError, parseConfig } from "../../src/config/load.js";
import { leaseFiles } from "../../src/config/schema.js";
import { VERSION } from "../../src/version.js";

const base = `
wan: { interface: wan0 }
lan: { interface: lan0 }
ports:
  - { listen: 80, target: 80 }
`;

function problems(text: string): string[] {
  try {
    parseConfig(text, "test.yaml");
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

test("a minimal config gets the documented defaults", () => {
  const c = parseConfig(base, "t");
  assert.equal(c.wan.address, "auto");
  assert.equal(c.lan.address, "auto");
  assert.deepEqual(leaseFiles(c), ["/tmp/dhcp.leases"]);
  assert.equal(c.firewall, "auto");
  assert.equal(c.runtimeDir, "/run/sixgate");
  assert.equal(c.debounceMs, 300);
  assert.equal(c.listener.halfCloseSec, 30);
  assert.equal(parseConfig(base + "listener: { maxChildren: 8 }\n", "t").listener.halfCloseSec, 30);
});

test("lease files: the top-level list, the shorthand's device.leases, never both", () => {
  const list = parseConfig(base + "leases: [/tmp/dhcp.leases, /tmp/hosts/odhcpd]\n", "t");
  assert.deepEqual(leaseFiles(list), ["/tmp/dhcp.leases", "/tmp/hosts/odhcpd"]);
  const shorthand = parseConfig(base + "device: { leases: /var/lib/misc/dnsmasq.leases }\n", "t");
  assert.deepEqual(leaseFiles(shorthand), ["/var/lib/misc/dnsmasq.leases"]);
  assert.deepEqual(problems(base + "leases: [/tmp/a]\ndevice: { leases: /tmp/b }\n"), [
    "leases: give leases or device.leases, not both",
  ]);
  assert.deepEqual(problems(base + "leases: [/tmp/a, /tmp/a]\n"), ["leases: a file is listed twice"]);
  assert.deepEqual(problems(base + "leases: []\n"), ["leases: needs at least one file"]);
  assert.deepEqual(problems(base + "leases: [tmp/a]\n"), ["leases.0: must be an absolute path"]);
});

test("JSON is accepted too", () => {
  const c = parseConfig(
    JSON.stringify({
      wan: { interface: "wan0" },
      lan: { interface: "lan0" },
      ports: [{ listen: 1, target: 2 }],
    }),
    "t.json",
  );
  assert.deepEqual(c.ports, [{ listen: 1, target: 2 }]);
});

test("addresses are canonicalised and MACs lower-cased", () => {
  const c = parseConfig(
    base + `device: { mac: "02:00:00:00:01:0A", address: 192.168.1.100 }\n`.replace("device", "device"),
    "t",
  );
  assert.equal(c.device.mac, "02:00:00:00:01:0a");
  const w = parseConfig(
    base.replace("{ interface: wan0 }", "{ interface: wan0, address: 2001:DB8:0:0::1 }"),
    "t",
  );
  assert.equal(w.wan.address, "2001:db8::1");
});

test("every error names the field and the problem", () => {
  const cases: [string, RegExp][] = [
    [base.replace("listen: 80", "listen: 70000"), /^ports\.0\.listen: must be 1-65535/],
    [base.replace("listen: 80", "listen: 8.5"), /^ports\.0\.listen: must be a whole number/],
    [
      base.replace("interface: wan0", 'interface: "wan0; rm -rf /"'),
      /^wan\.interface: must be a Linux interface name/,
    ],
    [
      base.replace("{ interface: wan0 }", "{ interface: wan0, address: 10.0.0.1 }"),
      /^wan\.address: "10.0.0.1" is not "auto" or an IPv6 address/,
    ],
    [base + "lan2: 1\n", /^\(top level\): unknown key\(s\): lan2/],
    [base + "device: { mac: nope }\n", /^device\.mac: "nope" is not a MAC address/],
    [base + "device: { address: 300.1.1.1 }\n", /^device\.address: "300.1.1.1" is not an IPv4 address/],
    [base + "firewall: pf\n", /^firewall: /],
    [base + "runtimeDir: run\n", /^runtimeDir: must be an absolute path/],
    [base + "  - { listen: 80, target: 81 }\n", /^ports\.1\.listen: port 80 is listed twice/],
    [base.replace(/ports:[\s\S]*/, "ports: []\n"), /^ports: needs at least one port mapping/],
    ["wan: [unclosed", /^\(file\): not valid YAML or JSON/],
    [
      base + "health: { schedule: every 30s }\n",
      /^health\.schedule: "every 30s" is not a valid cron schedule/,
    ],
    [base + "health: { schedule: '*/30 * * * * 9' }\n", /^health\.schedule: /],
    [base + "mqtt: { url: 'http://broker' }\n", /^mqtt\.url: /],
    [base + "listener: { halfCloseSec: 0 }\n", /^listener\.halfCloseSec: /],
    [base + "listener: { halfCloseSec: 3601 }\n", /^listener\.halfCloseSec: /],
  ];
  for (const [text, expected] of cases) {
    const found = problems(text);
    assert.ok(
      found.some((p) => expected.test(p)),
      `${expected} in ${JSON.stringify(found)}`,
    );
  }
});

test("the version constant matches package.json", () => {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  assert.equal(VERSION, pkg.version);
});

test("the full example in docs/configuration.md is a valid config, and its MQTT lines are valid too", () => {
  const doc = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
  const example = /## Full example\s+```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(example !== undefined, "docs/configuration.md has a yaml block under 'Full example'");
  const c = parseConfig(example, "configuration.md");
  assert.deepEqual(c.ports, [
    { listen: 80, target: 80 },
    { listen: 2323, target: 23 },
  ]);
  assert.equal(c.health.schedule, "*/30 * * * * *");
  // The commented mqtt section, uncommented, parses as well.
  const withMqtt = example.replace(/^# (mqtt):.*$/m, "$1:").replace(/^#( {3}\S)/gm, "$1");
  assert.equal(parseConfig(withMqtt, "configuration.md").mqtt?.url, "mqtts://broker.lan:8883");
});
