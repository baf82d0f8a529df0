// Lease files (src/core/leases.ts) and the device chosen from them (src/core/device.ts), with lines shaped as
// dnsmasq and odhcpd write them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseLeaseFile, parseOdhcpdLeases } from "../../src/core/leases.js";
import { reduce } from "../../src/core/facts.js";
import { plan } from "../../src/core/plan.js";
import { addr, healthyFacts, lease, link, makeConfig } from "./fixtures.js";

// As odhcpd (statefiles.c, 2026) writes them: two IPv4 leases on br-lan, one on the guest bridge, IPv6 ones.
const ODHCPD = [
  "# br-lan 2:0:0:0:1:0 ipv4 camera 1767225600 c0a80164 32 192.168.1.100/32",
  "# br-lan 000100012c5b7f1a020000000100 1a2b3c4d camera 1767225600 64 128 fd00::64/128 2001:db8:0:1::64/128",
  "# br-lan 2:0:0:0:1:a ipv4 - -1 c0a8010a 32 192.168.1.10/32",
  "# br-guest 2:0:0:0:2:0 ipv4 broken\\x20phone\\x21 1767229200 c0a80232 32 192.168.2.50/32",
  "# br-lan 00030001020000000109 1 router 1767225600 1 56 2001:db8:1:100::/56",
  "",
].join("\n");

test("odhcpd: IPv4 leases with the unpadded MAC normalised; IPv6 leases skipped, not counted as bad", () => {
  assert.deepEqual(parseLeaseFile(ODHCPD), {
    format: "odhcpd",
    badLines: 0,
    leases: [
      { mac: "02:00:00:00:01:00", address: "192.168.1.100", hostname: "camera", expires: 1767225600 },
      // valid_until -1 is an infinite lease: 0, as dnsmasq says it; "-" is no hostname.
      { mac: "02:00:00:00:01:0a", address: "192.168.1.10", hostname: "*", expires: 0 },
      {
        mac: "02:00:00:00:02:00",
        address: "192.168.2.50",
        hostname: "broken\\x20phone\\x21",
        expires: 1767229200,
      },
    ],
  });
});

test("odhcpd before 2025-11: the MAC as 12 hex digits, hosts lines in the same file", () => {
  const text = [
    "192.168.1.100\tcamera.lan\tcamera",
    "# br-lan 020000000100 ipv4 camera 1767225600 c0a80164 32 192.168.1.100/32",
    "fd00::64\tcamera.lan\tcamera",
    "# br-lan 000100012c5b7f1a020000000100 1a2b3c4d camera 1767225600 64 128 fd00::64/128",
  ].join("\n");
  assert.deepEqual(parseLeaseFile(text), {
    format: "odhcpd",
    badLines: 0,
    leases: [{ mac: "02:00:00:00:01:00", address: "192.168.1.100", hostname: "camera", expires: 1767225600 }],
  });
});

test("odhcpd: garbled lines are skipped and counted, expired ones skipped; the good lines survive", () => {
  const good = "# br-lan 2:0:0:0:1:0 ipv4 camera 1767225600 c0a80164 32 192.168.1.100/32";
  const text = [
    "# br-lan 2:0:0:0:1:0 ipv4 camera 1767225600 c0a80165 32 192.168.1.100/32", // hex disagrees
    "# br-lan 2:0:0:0:1:0:7 ipv4 camera 1767225600 c0a80164 32 192.168.1.100/32", // seven groups
    "# br-lan 2:0:0:0:1:0 ipv4 camera soon c0a80164 32 192.168.1.100/32", // no time
    "# br-lan 2:0:0:0:1:0 ipv4 camera 1767225600 c0a801", // cut short while written
    "# br-lan 2:0:0:0:1:1 ipv4 old 0 c0a80165 32 192.168.1.101/32", // expired: a known record, not bad
    good,
  ].join("\n");
  const parsed = parseOdhcpdLeases(text);
  assert.equal(parsed.badLines, 4);
  assert.deepEqual(
    parsed.leases.map((l) => [l.mac, l.address]),
    [["02:00:00:00:01:00", "192.168.1.100"]],
  );
});

test("format: recognised from the content; empty is no lease; anything else is unknown, never no lease", () => {
  const dnsmasq = "1767225600 02:00:00:00:01:00 192.168.1.100 camera 01:02:00:00:00:01:00\n";
  assert.equal(parseLeaseFile(dnsmasq).format, "dnsmasq");
  // An IPv6-only dnsmasq file, and a garbled first line before the records.
  assert.equal(parseLeaseFile("duid 00:01:00:01:2c:5b:7f:1a:02:00:00:00:00:01\n").format, "dnsmasq");
  assert.deepEqual(parseLeaseFile(`half a li\n${dnsmasq}`).badLines, 1);
  assert.equal(parseLeaseFile(`# br-lan 2:0:0:0:1:0 ipv4 cam\n${ODHCPD}`).format, "odhcpd");
  assert.deepEqual(parseLeaseFile(" \n\n"), { format: "empty", leases: [], badLines: 0 });
  assert.deepEqual(parseLeaseFile(""), { format: "empty", leases: [], badLines: 0 });
  // ISC dhcpd, a hosts file, Kea's CSV: content, but no record of ours.
  for (const text of [
    'lease 192.168.1.100 {\n  hardware ethernet 02:00:00:00:01:00;\n  client-hostname "camera";\n}\n',
    "192.168.1.100\tcamera.lan\tcamera\n",
    "address,hwaddr,client_id,valid_lifetime,expire\n192.168.1.100,02:00:00:00:01:00,,3600,1767225600\n",
  ]) {
    const parsed = parseLeaseFile(text);
    assert.equal(parsed.format, "unknown", text);
    assert.deepEqual(parsed.leases, []);
  }
});

const guestLinks = {
  wan0: link("wan0", [addr("2001:db8:1::1")]),
  lan0: link("lan0", [addr("192.168.1.1")]),
  guest0: link("guest0", [addr("192.168.2.1")]),
};

test("single-lease mode counts only leases in the LAN interface's subnets: a guest-pool lease is ignored", () => {
  const config = makeConfig();
  const guest = lease("02:00:00:00:02:00", "192.168.2.50");
  const leases = [lease("02:00:00:00:01:00", "192.168.1.100"), guest];
  const p = plan(healthyFacts({ links: guestLinks, leases }, config), config);
  assert.equal(p.waitingFor, undefined);
  assert.deepEqual(p.devices[0]?.device, {
    mac: "02:00:00:00:01:00",
    address: "192.168.1.100",
    source: "lease-single",
  });

  // Only a guest lease: no lease on the LAN, and the detail says why the other one did not count.
  const onlyGuest = plan(healthyFacts({ links: guestLinks, leases: [guest] }, config), config);
  assert.equal(onlyGuest.waitingFor, "device");
  assert.equal(onlyGuest.detail, "no DHCP lease on the LAN (1 outside lan0's subnets ignored)");

  // A second LAN subnet on the same interface counts as LAN.
  const twoSubnets = { ...guestLinks, lan0: link("lan0", [addr("192.168.1.1"), addr("192.168.2.1")]) };
  assert.match(
    plan(healthyFacts({ links: twoSubnets, leases }, config), config).detail ?? "",
    /2 DHCP leases/,
  );
});

test("the single lease follows the LAN's addresses: a lease in a subnet the LAN gains is taken then", () => {
  const config = makeConfig();
  const wan = link("wan0", [addr("2001:db8:1::1")]);
  let state = {
    config,
    facts: healthyFacts({ links: { wan0: wan, lan0: link("lan0", [addr("10.0.0.1")]) } }),
  };
  state = reduce(state, { type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.100")] });
  assert.equal(state.facts.devices.device?.address, undefined);
  state = reduce(state, { type: "links", links: [wan, link("lan0", [addr("192.168.1.1")])] });
  assert.equal(state.facts.devices.device?.address, "192.168.1.100");
});

test("a lease file in an unknown format is the reason the device is unknown, not 'no lease'", () => {
  for (const config of [makeConfig(), makeConfig({ device: { mac: "02:00:00:00:01:00" } })]) {
    let state = { config, facts: healthyFacts({ leases: undefined }, config) };
    state = reduce(state, {
      type: "leases",
      leases: [],
      files: [
        { file: "/tmp/dhcp.leases", format: "empty", leases: 0, badLines: 0 },
        { file: "/tmp/kea.csv", format: "unknown", leases: 0, badLines: 2 },
      ],
    });
    const p = plan(state.facts, config);
    assert.equal(p.waitingFor, "device");
    assert.equal(p.detail, "lease file /tmp/kea.csv: unrecognised format (neither dnsmasq nor odhcpd)");
  }
});
