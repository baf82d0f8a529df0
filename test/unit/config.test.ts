import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseConfig } from "../../src/config/load.js";
import { leaseFiles } from "../../src/config/schema.js";
import { VERSION } from "../../src/version.js";
import { configProblems as problems } from "./fixtures.js";

const base = `
wan: { interface: wan0 }
lan: { interface: lan0 }
ports:
  - { listen: 80, target: 80 }
`;

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
  assert.deepEqual(c.devices[0]?.ports, [{ listen: 1, target: 2 }]);
});

test("addresses are canonicalised and MACs lower-cased", () => {
  const c = parseConfig(
    base + `device: { mac: "02:00:00:00:01:0A", address: 192.168.1.100 }\n`.replace("device", "device"),
    "t",
  );
  assert.equal(c.devices[0]?.mac, "02:00:00:00:01:0a");
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
    [base + "runtimeDir: /\n", /^runtimeDir: must not be \/ itself/],
    [base + "stateDir: /run/../etc\n", /^stateDir: must be written plainly: no \. or \.\. parts/],
    [base + "leases: [/tmp//dhcp.leases, /tmp/dhcp.leases]\n", /^leases\.0: must be written plainly/],
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
  assert.deepEqual(c.devices[0]?.ports, [
    { listen: 80, target: 80 },
    { listen: 2323, target: 23 },
    { listen: "8000-8010", target: "9000-9010" },
  ]);
  assert.equal(c.health.schedule, "*/30 * * * * *");
  // The commented mqtt section, uncommented, parses as well.
  const withMqtt = example.replace(/^# (mqtt):.*$/m, "$1:").replace(/^#( {3}\S)/gm, "$1");
  assert.equal(parseConfig(withMqtt, "configuration.md").mqtt?.url, "mqtts://broker.lan:8883");
});

const lans = `
wan: { interface: wan0 }
lan: { interface: lan0 }
`;

test("devices: each with its own name, MAC or address and ports; the shorthand is one device named device", () => {
  const c = parseConfig(
    lans +
      `devices:
  - { name: cam, mac: "02:00:00:00:01:0A", ports: [{ listen: 8080, target: 80 }] }
  - { name: plc, address: 192.168.1.50, ports: [{ listen: 502, target: 502 }] }
leases: [/tmp/dhcp.leases, /tmp/hosts/odhcpd]
`,
    "t",
  );
  assert.equal(c.shorthand, false);
  assert.deepEqual(
    c.devices.map((d) => [d.name, d.mac, d.address, d.ports.map((p) => p.listen)]),
    [
      ["cam", "02:00:00:00:01:0a", undefined, [8080]],
      ["plc", undefined, "192.168.1.50", [502]],
    ],
  );
  const short = parseConfig(base + "device: { mac: 02:00:00:00:01:00, leases: /tmp/x.leases }\n", "t");
  assert.equal(short.shorthand, true);
  assert.deepEqual(short.devices, [
    {
      name: "device",
      mac: "02:00:00:00:01:00",
      address: undefined,
      ports: [{ listen: 80, target: 80 }],
      ipv6: "shared",
    },
  ]);
  assert.deepEqual(leaseFiles(short), ["/tmp/x.leases"]);
});

test("devices: both forms, a shared listen port, duplicate names or MACs, a bad name are refused naming the field", () => {
  const dev = (name: string, extra: string, listen = 8080) =>
    `  - { name: ${name}, ${extra}ports: [{ listen: ${listen}, target: 80 }] }\n`;
  const cases: [string, RegExp][] = [
    [
      base + "devices:\n" + dev("cam", "mac: 02:00:00:00:01:00, "),
      /^ports: with devices, each device has its own ports/,
    ],
    [
      lans + "device: { mac: 02:00:00:00:01:00 }\ndevices:\n" + dev("cam", "address: 192.168.1.9, "),
      /^device: give devices or the one-device shorthand device \+ ports, not both/,
    ],
    [
      lans + "devices:\n" + dev("cam", "mac: 02:00:00:00:01:00, ") + dev("printer", "address: 192.168.1.9, "),
      /^devices\.1\.ports\.0\.listen: listen port 8080 is also devices\.0's \(cam\)/,
    ],
    [
      lans + "devices:\n" + dev("cam", "mac: 02:00:00:00:01:00, ") + dev("cam", "address: 192.168.1.9, ", 81),
      /^devices\.1\.name: name "cam" is also devices\.0's \(cam\)/,
    ],
    [
      lans +
        "devices:\n" +
        dev("cam", "mac: 02:00:00:00:01:00, ") +
        dev("cam2", "mac: 02:00:00:00:01:00, ", 81),
      /^devices\.1\.mac: MAC 02:00:00:00:01:00 is also devices\.0's \(cam\)/,
    ],
    [
      lans + "devices:\n" + dev("cam", "mac: 02:00:00:00:01:00, ") + dev("guess", "", 81),
      /^devices\.1: needs a mac or an address when several devices are listed/,
    ],
    [lans + "devices:\n" + dev("Cam 1", ""), /^devices\.0\.name: must be 1-32 of a-z 0-9 _ -/],
    [lans + "devices: []\n", /^devices: needs at least one device/],
    [lans, /^ports: needs the port mappings \(or a devices list\)/],
  ];
  for (const [text, problem] of cases) {
    const found = problems(text);
    assert.ok(
      found.some((p) => problem.test(p)),
      `${JSON.stringify(found)} does not match ${String(problem)}`,
    );
  }
});

test("devices: at most MAX_LISTENERS port mappings in all", () => {
  const ports = (from: number) =>
    Array.from({ length: 64 }, (_, i) => `{ listen: ${from + i}, target: 80 }`).join(", ");
  const devices = Array.from(
    { length: 5 },
    (_, d) => `  - { name: d${d}, address: 192.168.1.${10 + d}, ports: [${ports(10000 + d * 100)}] }\n`,
  ).join("");
  assert.ok(
    problems(lans + "devices:\n" + devices).some((p) =>
      /^devices: 320 listen ports in all; at most 256, one listener each/.test(p),
    ),
  );
});

test("the several-devices example in docs/configuration.md is a valid config", () => {
  const doc = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8");
  const example = /### Several devices[\s\S]*?```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(example !== undefined, "docs/configuration.md has a yaml block under 'Several devices'");
  const c = parseConfig(example, "configuration.md");
  assert.deepEqual(
    c.devices.map((d) => [d.name, d.ports.length]),
    [
      ["cam", 2],
      ["plc", 1],
    ],
  );
});

test("a device address that is no LAN host is refused: it would expose the gateway's own services", () => {
  // socat connecting to 0.0.0.0 reaches the gateway itself (a service bound to its LAN address answered over the
  // WAN in the lab); loopback, multicast and broadcast are no device either.
  for (const address of [
    "0.0.0.0",
    "0.1.2.3",
    "127.0.0.1",
    "224.0.0.1",
    "239.255.255.250",
    "255.255.255.255",
  ]) {
    for (const text of [
      base + `device: { address: ${address} }\n`,
      base.replace(/ports:[\s\S]*/, "") +
        `devices: [{ name: cam, address: ${address}, ports: [{ listen: 80, target: 80 }] }]\n`,
    ]) {
      const found = problems(text);
      assert.ok(
        found.some((p) => /^devices?(\.0)?\.address: .* is not a LAN host's address/.test(p)),
        `${address}: ${JSON.stringify(found)}`,
      );
    }
  }
  for (const address of ["192.168.1.100", "10.0.0.5", "172.16.0.9", "100.64.0.1", "1.2.3.4"])
    assert.deepEqual(problems(base + `device: { address: ${address} }\n`), [], address);
});

test("a wan.address literal the listeners cannot serve on is refused naming the field", () => {
  // fe80::1 on wan0 made the agent wait for ever, "waiting for fe80::1 on wan0", while it was on wan0.
  const cases: [string, RegExp][] = [
    ["fe80::1", /^wan\.address: fe80::1 is link-local/],
    ["FE80::1", /^wan\.address: fe80::1 is link-local/],
    ["ff02::1", /^wan\.address: ff02::1 is multicast/],
    ["::1", /^wan\.address: ::1 is loopback/],
    ["::", /^wan\.address: :: is unspecified/],
    ["::ffff:192.0.2.1", /^wan\.address: ::ffff:c000:201 is an IPv4-mapped address/],
  ];
  for (const [address, expected] of cases) {
    const found = problems(base.replace("{ interface: wan0 }", `{ interface: wan0, address: "${address}" }`));
    assert.ok(
      found.some((p) => expected.test(p)),
      `${address}: ${JSON.stringify(found)}`,
    );
  }
  for (const address of ["2001:db8:1::1", "fd00::1", "2a01:4f8::5"])
    assert.deepEqual(
      problems(base.replace("{ interface: wan0 }", `{ interface: wan0, address: "${address}" }`)),
      [],
      address,
    );
});
