import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { isIPv6 as nodeIsIPv6 } from "node:net";
import {
  canonicalIPv6,
  compareIPv6,
  isInterfaceName,
  isIPv4,
  normalizeMac,
  sameIPv4Subnet,
} from "../../src/core/addr.js";

test("IPv4 literals", () => {
  for (const good of ["0.0.0.0", "192.168.1.100", "255.255.255.255"]) assert.ok(isIPv4(good), good);
  for (const bad of ["256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4 ", "a.b.c.d", "1.2.3.4/24", ""]) {
    assert.ok(!isIPv4(bad), bad);
  }
});

test("IPv6 canonical form (RFC 5952)", () => {
  const cases: [string, string | undefined][] = [
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["2001:db8::0:1", "2001:db8::1"],
    ["::ffff:192.0.2.1", "::ffff:c000:201"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6"],
    ["2001:db8::1::2", undefined],
    ["2001:db8:1:2:3:4:5:6:7", undefined],
    ["12345::", undefined],
    ["fe80::1%eth0", undefined],
    ["[2001:db8::1]", undefined],
    ["", undefined],
  ];
  for (const [input, expected] of cases) assert.equal(canonicalIPv6(input), expected, input);
});

test("canonicalIPv6 agrees with node:net on random addresses and is idempotent", () => {
  const group = fc.integer({ min: 0, max: 0xffff });
  fc.assert(
    fc.property(fc.array(fc.oneof(group, fc.constant(0)), { minLength: 8, maxLength: 8 }), (groups) => {
      const text = groups.map((g) => g.toString(16)).join(":");
      const canon = canonicalIPv6(text);
      assert.ok(canon !== undefined && nodeIsIPv6(canon));
      assert.equal(canonicalIPv6(canon), canon);
      assert.equal(compareIPv6(text, canon), 0);
    }),
  );
});

test("interface names refuse what a command line could misread", () => {
  for (const good of ["wan0", "lan0", "eth0.100", "br-lan", "wlan0_1", "a23456789012345"]) {
    assert.ok(isInterfaceName(good), good);
  }
  for (const bad of ["", "-x", "a234567890123456", "eth0;rm", "eth 0", "eth0\n", "../x", "$(id)", "."]) {
    assert.ok(!isInterfaceName(bad), bad);
  }
});

test("MAC addresses are normalised to lower case", () => {
  assert.equal(normalizeMac("02:00:00:00:01:0A"), "02:00:00:00:01:0a");
  assert.equal(normalizeMac("02-00-00-00-01-00"), undefined);
  assert.equal(normalizeMac("2:0:0:0:1:0"), undefined);
});

test("IPv4 subnet membership", () => {
  assert.ok(sameIPv4Subnet("192.168.1.1", "192.168.1.200", 24));
  assert.ok(!sameIPv4Subnet("192.168.1.1", "192.168.2.1", 24));
  assert.ok(sameIPv4Subnet("10.0.0.1", "10.255.0.1", 8));
  assert.ok(!sameIPv4Subnet("10.0.0.1", "10.0.0.2", 33));
});
