// The `dns:` section, per-device hostnames and the TSIG key file: refused with the field named, defaults as documented.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig, parseConfig } from "../../src/config/load.js";
import { parseDnsServer } from "../../src/config/dns.js";
import { parseTsigKey } from "../../src/dns/key.js";
import { configProblems as problems } from "./fixtures.js";

const SECRET = "c2l4Z2F0ZS10ZXN0LXNlY3JldC1rZXktMzItYnl0ZXMhIQ==";
const KEY = `key "sixgate-test" {\n\talgorithm hmac-sha256;\n\tsecret "${SECRET}";\n};\n`;

const devices = (extra = "") => `
wan: { interface: wan0 }
lan: { interface: lan0 }
devices:
  - { name: cam, mac: "02:00:00:00:01:00", hostname: cam, ports: [{ listen: 80, target: 80 }] }
  - { name: printer, mac: "02:00:00:00:02:00", ports: [{ listen: 631, target: 631 }] }
${extra}`;

test("dns: defaults (ttl 60), the zone in lower case without its final dot, hostnames kept", () => {
  const c = parseConfig(devices("dns: { server: '2001:db8::53', zone: Example.Test., keyFile: /k }\n"), "t");
  assert.deepEqual(c.dns, { server: "2001:db8::53", zone: "example.test", keyFile: "/k", ttl: 60 });
  assert.equal(c.devices[0]?.hostname, "cam");
  assert.equal(c.devices[1]?.hostname, undefined);
  // The shorthand takes a hostname too; and a hostname needs no dns: section (it is then shown only).
  const shorthand = parseConfig(
    "wan: { interface: wan0 }\nlan: { interface: lan0 }\ndevice: { hostname: cam }\nports: [{ listen: 80, target: 80 }]\n",
    "t",
  );
  assert.equal(shorthand.devices[0]?.hostname, "cam");
  assert.equal(shorthand.dns, undefined);
});

test("dns: each bad field is refused with its path and the problem", () => {
  const cases: [string, string][] = [
    [
      "dns: { server: ns.example.test, zone: example.test, keyFile: /k }",
      "dns.server: must be an IPv4 or IPv6",
    ],
    ["dns: { server: '[2001:db8::53]:0', zone: example.test, keyFile: /k }", "dns.server:"],
    ["dns: { server: '192.0.2.53:99999', zone: example.test, keyFile: /k }", "dns.server:"],
    ["dns: { server: '::1', zone: 'bad_zone', keyFile: /k }", "dns.zone: must be a domain name"],
    ["dns: { server: '::1', zone: example.test, keyFile: rel/k }", "dns.keyFile: must be an absolute path"],
    ["dns: { server: '::1', zone: example.test, keyFile: /k, ttl: 0 }", "dns.ttl: must be 1-86400"],
    ["dns: { server: '::1', zone: example.test, keyFile: /k, ttl: 1.5 }", "dns.ttl: must be a whole number"],
    [
      "dns: { server: '::1', zone: example.test, keyFile: /k, gatewayName: '-gw' }",
      "dns.gatewayName: must be one DNS label",
    ],
    [
      "dns: { server: '::1', zone: example.test, keyFile: /k, gatewayName: cam }",
      'devices.0.hostname: "cam" is also dns.gatewayName',
    ],
    ["dns: { server: '::1', zone: example.test, keyFile: /k, secret: x }", "dns: unknown key(s): secret"],
    ["dns: { zone: example.test, keyFile: /k }", "dns.server:"],
  ];
  for (const [extra, expected] of cases) {
    const found = problems(devices(extra + "\n"));
    assert.ok(
      found.some((p) => p.startsWith(expected)),
      `${extra}: expected "${expected}", got ${JSON.stringify(found)}`,
    );
  }
});

test("hostname: one DNS label, used once", () => {
  assert.deepEqual(problems(devices().replace("hostname: cam", "hostname: Cam.lan")), [
    "devices.0.hostname: must be one DNS label: 1-63 of a-z 0-9 -, not starting or ending with -",
  ]);
  assert.deepEqual(
    problems(devices().replace('mac: "02:00:00:00:02:00",', 'mac: "02:00:00:00:02:00", hostname: cam,')),
    [`devices.1.hostname: "cam" is also cam's hostname`],
  );
});

test("dns.server: IPv4 or IPv6, a port as [v6]:port or v4:port, 53 by default", () => {
  assert.deepEqual(parseDnsServer("2001:DB8::53"), { address: "2001:db8::53", port: 53 });
  assert.deepEqual(parseDnsServer("[2001:db8::53]:5353"), { address: "2001:db8::53", port: 5353 });
  assert.deepEqual(parseDnsServer("[2001:db8::53]"), { address: "2001:db8::53", port: 53 });
  assert.deepEqual(parseDnsServer("192.0.2.53"), { address: "192.0.2.53", port: 53 });
  assert.deepEqual(parseDnsServer("192.0.2.53:5353"), { address: "192.0.2.53", port: 5353 });
  for (const bad of ["2001:db8::53:5353x", "[192.0.2.53]:53", "192.0.2.256", "ns1", "[::1]:", "", "::1 ; rm"])
    assert.equal(parseDnsServer(bad), undefined, bad);
});

test("the TSIG key file: BIND's format (tsig-keygen's output), comments allowed, problems never quote the secret", () => {
  assert.deepEqual(parseTsigKey(KEY), { name: "sixgate-test", algorithm: "hmac-sha256" });
  assert.deepEqual(parseTsigKey(`# made by tsig-keygen\n/* c */ ${KEY} // end\n`), {
    name: "sixgate-test",
    algorithm: "hmac-sha256",
  });
  const bad = [
    KEY.replace("hmac-sha256", "hmac-sha999"),
    KEY.replace(SECRET, `${SECRET.slice(0, 10)}!!${SECRET.slice(12)}`),
    KEY.replace("};\n", "}\n"),
    KEY + KEY,
    "",
    `secret "${SECRET}";`,
  ];
  for (const text of bad) {
    const result = parseTsigKey(text);
    assert.ok("problem" in result, text);
    assert.ok(
      !result.problem.includes(SECRET.slice(0, 10)),
      `the problem quotes the secret: ${result.problem}`,
    );
  }
});

test("the TSIG key file: a secret holding // (base64 has /, about 1 key in 100) is read as the secret, not a comment", () => {
  // tsig-keygen wrote this one: "//" inside the quoted secret starts no comment (named.conf reads it whole).
  const secret = "GYQSOGb4LkA8KaGeqSPwWX6//i6iM6IgfpdLSW8rlHc=";
  const key = `key "sixgate" {\n\talgorithm hmac-sha256;\n\tsecret "${secret}";\n};\n`;
  assert.deepEqual(parseTsigKey(key), { name: "sixgate", algorithm: "hmac-sha256" });
  assert.deepEqual(parseTsigKey(`// a comment\n${key.replace("{", "{ # a comment\n")} /* one more */`), {
    name: "sixgate",
    algorithm: "hmac-sha256",
  });
  // A comment marker inside the quoted name is part of the name too (and then not a valid name).
  assert.ok("problem" in parseTsigKey(key.replace('"sixgate"', '"six#gate"')));
});

test("loading: a missing or malformed key file is refused naming dns.keyFile; a good one loads", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "sixgate-dns-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const key = join(dir, "tsig.key");
  const config = join(dir, "sixgate.yaml");
  writeFileSync(config, devices(`dns: { server: '::1', zone: example.test, keyFile: ${key} }\n`));
  const refusal = async () => {
    try {
      await loadConfig(config);
    } catch (e) {
      if (e instanceof ConfigError) return e.problems;
      throw e;
    }
    return [];
  };
  assert.deepEqual(await refusal(), [`dns.keyFile: cannot read ${key} (ENOENT)`]);
  writeFileSync(key, KEY.replace("algorithm hmac-sha256;", ""));
  const [problem] = await refusal();
  assert.match(problem ?? "", /^dns\.keyFile: .*tsig\.key is not one BIND key statement/);
  assert.ok(!(problem ?? "").includes(SECRET), "never the secret");
  writeFileSync(key, KEY);
  assert.equal((await loadConfig(config)).dns?.keyFile, key);
});
