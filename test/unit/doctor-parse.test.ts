// Parsers behind sixgate doctor: ss, ip route, ip addr (flags and lifetimes), nft -j list ruleset.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseLinkDetails } from "../../src/sources/ip-addr.js";
import { describeRule, nftChains } from "../../src/doctor/parse/nft-ruleset.js";
import { nftObjects } from "../../src/effects/firewall/nft.js";
import { nftFixture } from "./nft-fixtures.js";
import {
  formatRoute,
  overlappingRoutes,
  parseRouteGet,
  parseRoutes,
  routePrefix,
} from "../../src/doctor/parse/route.js";
import {
  blocksIPv6Bind,
  formatOwners,
  formatSocket,
  parseSsListening,
  parseSynSent,
  stuckListenerConnects,
} from "../../src/doctor/parse/ss.js";

// Real `ss -H -l -t -n -p` output from the lab, plus the forms ss prints elsewhere.
const SS = [
  'LISTEN 0      32     [2001:db8:1::1]:80   [::]:* users:(("socat",pid=6760,fd=5))',
  'LISTEN 0      32     [2001:db8:1::1]:2323 [::]:* users:(("socat",pid=6763,fd=5),("socat",pid=7001,fd=5))',
  'LISTEN 0      9      0.0.0.0:80           0.0.0.0:* users:(("busybox",pid=9945,fd=3))',
  "LISTEN 0      4096   *:8080               *:*",
  'LISTEN 0      128    [::]:22              [::]:* users:(("sshd",pid=1,fd=4))',
  'LISTEN 0      32     127.0.0.53%lo:53     0.0.0.0:* users:(("systemd-resolve",pid=9,fd=13))',
  "LISTEN 0      32     [fe80::1]%wan0:8443  [::]:*",
  "UNCONN 0      0      0.0.0.0:67           0.0.0.0:*",
  "garbage",
].join("\n");

describe("ss listening sockets", () => {
  const sockets = parseSsListening(SS);

  test("reads address, port, family, device and every owner", () => {
    assert.deepEqual(
      sockets.map((s) => [s.family, s.address, s.port, s.device ?? null, s.owners.map((o) => o.pid)]),
      [
        ["inet6", "2001:db8:1::1", 80, null, [6760]],
        ["inet6", "2001:db8:1::1", 2323, null, [6763, 7001]],
        ["inet", "0.0.0.0", 80, null, [9945]],
        ["any", "*", 8080, null, []],
        ["inet6", "::", 22, null, [1]],
        ["inet", "127.0.0.53", 53, "lo", [9]],
        ["inet6", "fe80::1", 8443, "wan0", []],
      ],
    );
    assert.equal(sockets[2]?.owners[0]?.name, "busybox");
  });

  test("what keeps an IPv6-only listener from binding [wan]:port", () => {
    const [ours, , v4, dual, v6any] = sockets;
    assert.ok(ours && v4 && dual && v6any);
    assert.equal(blocksIPv6Bind(ours, "2001:db8:1:0::1", 80), true, "same address, any spelling");
    assert.equal(blocksIPv6Bind(ours, "2001:db8:1::2", 80), false, "another address");
    assert.equal(blocksIPv6Bind(v4, "2001:db8:1::1", 80), false, "IPv4 only is no conflict");
    assert.equal(blocksIPv6Bind(dual, "2001:db8:1::1", 8080), true, "the dual-stack wildcard");
    assert.equal(blocksIPv6Bind(v6any, "2001:db8:1::1", 22), true, "the IPv6 wildcard");
    assert.equal(blocksIPv6Bind(v6any, "2001:db8:1::1", 80), false, "another port");
  });

  test("formats sockets and owners for people", () => {
    assert.equal(formatSocket(sockets[0] ?? assert.fail()), "[2001:db8:1::1]:80");
    assert.equal(formatSocket(sockets[5] ?? assert.fail()), "127.0.0.53%lo:53");
    assert.equal(formatOwners(sockets[1]?.owners ?? []), "socat (pid 6763), socat (pid 7001)");
    assert.equal(formatOwners([]), "an unknown process");
  });
});

test("ss state syn-sent: connections waiting for an answer, with the device they are pinned to", () => {
  // Real output from the lab while strict reverse-path filtering dropped the device's SYN-ACK.
  const pending = parseSynSent("0      1      192.168.1.1%lan0:40585 192.168.1.106:80\n\n");
  assert.deepEqual(pending, [
    {
      local: { family: "inet", address: "192.168.1.1", port: 40585, device: "lan0" },
      remoteAddress: "192.168.1.106",
      remotePort: 80,
    },
  ]);
});

test("only the listener's pinned connects count as stuck; unpinned probes from the same address do not", () => {
  // A pinned connect as socat makes it, an unpinned one from the same source (misrouted), another source, another host.
  const pending = parseSynSent(
    [
      "0 1 192.168.1.1%lan0:40585 192.168.1.106:80",
      "0 1 192.168.1.1:40611 192.168.1.106:23",
      "0 1 192.168.1.50%lan0:40612 192.168.1.106:8080",
      "0 1 192.168.1.1%lan0:40613 192.168.1.107:8081",
    ].join("\n"),
  );
  assert.equal(pending.length, 4);
  const stuck = stuckListenerConnects(pending, { address: "192.168.1.1", device: "lan0" }, "192.168.1.106");
  assert.deepEqual([...stuck], [80]);
  assert.deepEqual(
    [...stuckListenerConnects(pending, { address: "192.168.1.1", device: "eth1" }, "192.168.1.106")],
    [],
  );
});

describe("ip route", () => {
  // The lab with an upstream network on the LAN's subnet: both interfaces route 192.168.1.0/24.
  const SHOW =
    '[{"dst":"default","gateway":"10.0.0.1","dev":"wan0","flags":[]},' +
    '{"dst":"192.168.1.0/24","dev":"wan0","scope":"link","flags":[]},' +
    '{"dst":"192.168.1.0/24","dev":"lan0","protocol":"kernel","scope":"link","prefsrc":"192.168.1.1","flags":[]},' +
    '{"dst":"192.168.0.0/16","dev":"tun0","flags":[]},' +
    '{"dst":"192.168.1.200","dev":"eth9","flags":[]},' +
    '{"dst":"10.0.0.0/8","dev":"wan0","flags":[]}]';

  test("parses routes and the route the kernel picks", () => {
    assert.equal(parseRoutes(SHOW).length, 6);
    const got = parseRouteGet(
      '[{"dst":"192.168.1.106","dev":"wan0","prefsrc":"192.168.1.50","flags":[],"uid":0,"cache":[]}]',
    );
    assert.deepEqual(got, { dst: "192.168.1.106", dev: "wan0", gateway: undefined, prefsrc: "192.168.1.50" });
    assert.equal(parseRouteGet("[]"), undefined);
    assert.throws(() => parseRoutes("not json"));
  });

  test("prefixes: networks, hosts, default", () => {
    assert.deepEqual(routePrefix("192.168.1.0/24"), { network: "192.168.1.0", prefix: 24 });
    assert.deepEqual(routePrefix("192.168.1.7"), { network: "192.168.1.7", prefix: 32 });
    assert.deepEqual(routePrefix("default"), { network: "0.0.0.0", prefix: 0 });
    assert.equal(routePrefix("fe80::/64"), undefined);
  });

  test("routes on other interfaces that cover part of the LAN subnet, default routes aside", () => {
    const overlaps = overlappingRoutes(parseRoutes(SHOW), { address: "192.168.1.1", prefix: 24 }, "lan0");
    assert.deepEqual(
      overlaps.map((r) => `${r.dst} ${r.dev ?? ""}`),
      ["192.168.1.0/24 wan0", "192.168.0.0/16 tun0", "192.168.1.200 eth9"],
    );
    assert.equal(formatRoute(parseRoutes(SHOW)[0] ?? assert.fail()), "default via 10.0.0.1 dev wan0");
  });
});

describe("ip addr with flags and lifetimes", () => {
  test("carrier, admin state, tentative and lifetimes", () => {
    const text = JSON.stringify([
      {
        ifname: "wan0",
        flags: ["NO-CARRIER", "BROADCAST", "MULTICAST", "UP"],
        addr_info: [
          {
            family: "inet6",
            local: "2001:db8:1::20",
            prefixlen: 64,
            scope: "global",
            tentative: true,
            valid_life_time: 4294967295,
            preferred_life_time: 4294967295,
          },
          {
            family: "inet6",
            local: "2001:db8:1::30",
            prefixlen: 64,
            scope: "global",
            valid_life_time: 7000,
            preferred_life_time: 0,
          },
        ],
      },
      {
        ifname: "lan0",
        flags: ["UP", "LOWER_UP"],
        addr_info: [{ family: "inet", local: "192.168.1.1", prefixlen: 24 }],
      },
      { ifname: "dummy0", flags: ["BROADCAST"], addr_info: [{}] },
    ]);
    const [wan, lan, dummy] = parseLinkDetails(text);
    assert.deepEqual([wan?.adminUp, wan?.carrier], [true, false]);
    assert.deepEqual([lan?.adminUp, lan?.carrier], [true, true]);
    assert.deepEqual([dummy?.adminUp, dummy?.addresses], [false, []]);
    assert.deepEqual(
      wan?.addresses.map((a) => [
        a.address,
        a.tentative,
        a.deprecated,
        a.validLft ?? "forever",
        a.preferredLft ?? "forever",
      ]),
      [
        ["2001:db8:1::20", true, false, "forever", "forever"],
        ["2001:db8:1::30", false, true, 7000, 0],
      ],
    );
  });
});

describe("nft -j list ruleset", () => {
  test("chains with hook, policy and rules in order; sets and chain comments skipped", () => {
    // fixtures/nft/parse.nft as real nft lists it (a set over two lines, a chain comment, a brace in a comment).
    const chains = nftFixture("parse");
    assert.deepEqual(
      chains.map((c) => [
        c.family,
        c.table,
        c.name,
        c.hook ?? null,
        c.type ?? null,
        c.policy,
        c.rules.map(describeRule),
      ]),
      [
        [
          "ip",
          "sixgate",
          "postrouting",
          "postrouting",
          "nat",
          "accept",
          [
            'oifname "lan0" ip saddr 192.168.1.1 ip daddr 192.168.1.106 tcp dport { 23, 80 } snat to 192.168.1.1',
          ],
        ],
        [
          "inet",
          "filter",
          "input",
          "input",
          "filter",
          "drop",
          ['iifname "lo" accept', "tcp dport { 22, 80 } accept"],
        ],
        ["inet", "filter", "helper", null, null, "accept", ["return"]],
      ],
    );
  });

  test("rules are shown the way nft prints them, without counters' numbers and comments", () => {
    const shown = nftFixture("fw4").flatMap((c) => c.rules.map(describeRule));
    assert.ok(shown.includes("tcp flags syn / fin,syn,rst,ack jump syn_flood"), shown.join("\n"));
    assert.ok(shown.includes('iifname "wan" counter jump handle_reject'));
    assert.ok(shown.includes("ct state established,related accept"));
    assert.ok(shown.includes("limit rate 25/second return"));
  });

  test("an empty ruleset has no chains; output that is not nft's JSON is refused", () => {
    assert.deepEqual(nftChains(nftObjects('{"nftables": [{"metainfo": {"version": "1.0.6"}}]}')), []);
    assert.throws(() => nftObjects("table inet filter {"));
  });
});
