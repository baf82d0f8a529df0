// Own IPv6 addresses (`ipv6: own`): the suffix rule, the config's checks, the plan, the diff and the phase.
import { test } from "node:test";
import assert from "node:assert/strict";
import { configSchema, formatIssues } from "../../src/config/schema.js";
import { applySteps, diff } from "../../src/core/diff.js";
import { reduce, initialFacts } from "../../src/core/facts.js";
import { derivedCandidate, formatSuffix, ownSuffixes, parseSuffix } from "../../src/core/own-address.js";
import { devicePhaseOf } from "../../src/core/phase.js";
import { describeDevicePlan } from "../../src/cli/inspect.js";
import { ownAddressChecks } from "../../src/doctor/checks/own-address.js";
import { plan } from "../../src/core/plan.js";
import type {
  AddrInfo,
  Config,
  DevicePlan,
  Event,
  Facts,
  OwnAddress,
  Plan,
  State,
} from "../../src/core/types.js";
import { EMPTY } from "../../src/reconciler.js";
import { addr, lease, link } from "./fixtures.js";

const CAM_MAC = "02:00:00:00:01:00";
const PRINTER_MAC = "02:00:00:00:02:00";

/** cam (own, ::80) and printer (own, derived suffix) both serve port 80; nas shares the WAN address on port 80. */
function ownConfig(over: Record<string, unknown> = {}): Config {
  return configSchema.parse({
    wan: { interface: "wan0" },
    lan: { interface: "lan0" },
    leases: ["/tmp/dhcp.leases"],
    devices: [
      { name: "cam", mac: CAM_MAC, ports: [{ listen: 80, target: 80 }], ipv6: "own", ipv6Suffix: "::80" },
      { name: "printer", mac: PRINTER_MAC, ports: [{ listen: 80, target: 631 }], ipv6: "own" },
      { name: "nas", address: "192.168.1.50", ports: [{ listen: 80, target: 5000 }] },
    ],
    ...over,
  });
}

const PRINTER_SUFFIX = "::fc6b:6fe6:44e4:95d6";

/**
 * The facts reduce() makes from these WAN addresses (plus the LAN and both leases), with sixgate's record of the own
 * addresses it added: by default every /128 among them (as when the agent added them).
 */
function factsWith(config: Config, wan: AddrInfo[], recorded?: OwnAddress[]): Facts {
  const events: Event[] = [
    { type: "links", links: [link("wan0", wan), link("lan0", [addr("192.168.1.1")])] },
    { type: "leases", leases: [lease(CAM_MAC, "192.168.1.100"), lease(PRINTER_MAC, "192.168.1.101")] },
  ];
  const state = events.reduce<State>((s, e) => reduce(s, e), { config, facts: initialFacts });
  const ours = wan
    .filter((a) => a.prefixlen === 128)
    .map((a) => ({ device: "?", interface: "wan0", address: a.address }));
  return { ...state.facts, recordedAddresses: recorded ?? ours };
}

const device = (p: Plan, name: string): DevicePlan => {
  const d = p.devices.find((x) => x.name === name);
  assert.ok(d, `no device ${name}`);
  return d;
};

const valid = (address: string, extra: Partial<AddrInfo> = {}) => addr(address, { prefixlen: 128, ...extra });

test("the derived suffix: FNV-1a 64 of the name with the u and g bits cleared; the same every time", () => {
  // Golden: a change of the rule renumbers every device that relies on it.
  assert.equal(formatSuffix(derivedCandidate("printer", 0)), PRINTER_SUFFIX);
  assert.equal(formatSuffix(derivedCandidate("cam", 0)), "::14ee:3479:1bce:6bd1");
  for (const name of ["printer", "cam", "a", "device-with-a-long-name_1"])
    for (let attempt = 0; attempt < 4; attempt++)
      assert.equal((derivedCandidate(name, attempt) >> 56n) & 3n, 0n, `${name} #${attempt}: u/g bits`);
  const config = ownConfig();
  const suffixes = ownSuffixes(config.devices, undefined);
  assert.deepEqual(
    [...suffixes].map(([n, iid]) => [n, formatSuffix(iid)]),
    [
      ["cam", "::80"],
      ["printer", PRINTER_SUFFIX],
    ],
    "only own devices; the configured suffix as given",
  );
});

test("a derived suffix skips one of the gateway's own identifiers and another device's, and ignores our /128s", () => {
  const config = ownConfig();
  const taken = derivedCandidate("printer", 0);
  const gateway = link("wan0", [addr(`2001:db8:1:0:${PRINTER_SUFFIX.slice(2)}`)]);
  assert.equal(ownSuffixes(config.devices, gateway).get("printer"), derivedCandidate("printer", 1));
  // Our own address on the interface (a /128) is not the gateway's: the suffix stays.
  const ours = link("wan0", [valid(`2001:db8:1:0:${PRINTER_SUFFIX.slice(2)}`)]);
  assert.equal(ownSuffixes(config.devices, ours).get("printer"), taken);
  // A configured suffix equal to the derived one: the derived one moves on.
  const clash = ownConfig({
    devices: [
      {
        name: "cam",
        mac: CAM_MAC,
        ports: [{ listen: 80, target: 80 }],
        ipv6: "own",
        ipv6Suffix: PRINTER_SUFFIX,
      },
      { name: "printer", mac: PRINTER_MAC, ports: [{ listen: 80, target: 631 }], ipv6: "own" },
    ],
  });
  assert.equal(ownSuffixes(clash.devices, undefined).get("printer"), derivedCandidate("printer", 1));
});

test("ipv6Suffix: an interface identifier, canonical; bad ones are refused naming the field", () => {
  assert.equal(parseSuffix("::c0a8:164"), 0xc0a80164n);
  assert.equal(parseSuffix("::0:0:0:80"), 0x80n);
  for (const bad of ["::", "2001:db8::80", "1::", "::g", "80", "::1:2:3:4:5"])
    assert.equal(parseSuffix(bad), undefined, bad);
  const refused = (devices: unknown[]) => {
    const r = configSchema.safeParse({ wan: { interface: "wan0" }, lan: { interface: "lan0" }, devices });
    if (r.success) throw new Error("accepted");
    return formatIssues(r.error);
  };
  const cam = { name: "cam", address: "192.168.1.100", ports: [{ listen: 80, target: 80 }] };
  const printer = { name: "printer", address: "192.168.1.101", ports: [{ listen: 80, target: 631 }] };
  assert.deepEqual(refused([{ ...cam, ipv6: "own", ipv6Suffix: "2001:db8::80" }]), [
    'devices.0.ipv6Suffix: "2001:db8::80" is not an interface identifier: an IPv6 literal like "::80" or "::c0a8:164", high 64 bits zero, low 64 bits not',
  ]);
  assert.deepEqual(refused([{ ...cam, ipv6Suffix: "::80" }]), [
    "devices.0.ipv6Suffix: needs ipv6: own (a shared device listens on the WAN address)",
  ]);
  assert.match(refused([{ ...cam, ipv6: "mine" }])[0] ?? "", /^devices\.0\.ipv6: /);
  assert.deepEqual(
    refused([
      { ...cam, ipv6: "own", ipv6Suffix: "::80" },
      { ...printer, ipv6: "own", ipv6Suffix: "::0:80" },
    ]),
    ["devices.1.ipv6Suffix: suffix ::80 is also devices.0's (cam)"],
  );
  // With HAProxy (proxies named by listen port) own devices still need distinct listen ports.
  assert.deepEqual(
    (() => {
      const r = configSchema.safeParse({
        wan: { interface: "wan0" },
        lan: { interface: "lan0" },
        listener: { backend: "haproxy" },
        devices: [
          { ...cam, ipv6: "own" },
          { ...printer, ipv6: "own" },
        ],
      });
      return r.success ? [] : formatIssues(r.error);
    })(),
    ["devices.1.ports.0.listen: listen port 80 is also devices.0's (cam)"],
  );
  // Two shared devices on one listen port are still refused; own ones each have their own address.
  assert.deepEqual(refused([cam, printer]), [
    "devices.1.ports.0.listen: listen port 80 is also devices.0's (cam)",
  ]);
  assert.equal(ownConfig().devices.length, 3, "cam, printer (own) and nas (shared) may all listen on 80");
  const written = configSchema.parse({
    wan: { interface: "wan0" },
    lan: { interface: "lan0" },
    devices: [{ ...cam, ipv6: "own", ipv6Suffix: "::0:C0A8:0164" }],
  });
  assert.equal(written.devices[0]?.ipv6Suffix, "::c0a8:164");
  assert.equal(
    configSchema.parse({
      wan: { interface: "wan0" },
      lan: { interface: "lan0" },
      ports: [{ listen: 80, target: 80 }],
    }).devices[0]?.ipv6,
    "shared",
  );
});

test("plan: the own address is the /64 of the listen address plus the suffix; it is added, then used once valid", () => {
  const config = ownConfig();
  const printerAddress = `2001:db8:1:0:${PRINTER_SUFFIX.slice(2)}`;
  // Not there yet: wanted, but the listeners wait for it.
  const before = plan(factsWith(config, [addr("2001:db8:1::1")]), config);
  assert.deepEqual(before.desired.addresses, [
    { device: "cam", interface: "wan0", address: "2001:db8:1::80" },
    { device: "printer", interface: "wan0", address: printerAddress },
  ]);
  const cam = device(before, "cam");
  assert.deepEqual(cam.ownAddress, { address: "2001:db8:1::80", interface: "wan0", state: "absent" });
  assert.equal(cam.listenAddress, undefined);
  assert.equal(cam.waitingFor, "own-address");
  assert.equal(cam.detail, "own address 2001:db8:1::80 on wan0 is being added");
  assert.deepEqual(cam.listeners, []);
  assert.ok(cam.snat !== null, "its SNAT rule is in place meanwhile");
  assert.deepEqual(
    before.desired.listeners.map((l) => [l.device, l.listen, l.wanAddress]),
    [["nas", 80, "2001:db8:1::1"]],
    "the shared device serves meanwhile",
  );
  // Tentative: still waiting, and the detail says why.
  const tentative = plan(
    factsWith(
      config,
      [addr("2001:db8:1::1"), valid("2001:db8:1::80"), valid(printerAddress)].map((a) =>
        a.prefixlen === 128 ? { ...a, tentative: true } : a,
      ),
    ),
    config,
  );
  assert.equal(device(tentative, "cam").waitingFor, "own-address");
  assert.match(device(tentative, "cam").detail ?? "", /tentative \(duplicate address detection running\)/);
  // Valid: both devices serve port 80, each on its own address.
  const after = plan(
    factsWith(config, [addr("2001:db8:1::1"), valid("2001:db8:1::80"), valid(printerAddress)]),
    config,
  );
  assert.deepEqual(
    after.desired.listeners.map((l) => [l.device, l.listen, l.wanAddress]),
    [
      ["cam", 80, "2001:db8:1::80"],
      ["nas", 80, "2001:db8:1::1"],
      ["printer", 80, printerAddress],
    ],
  );
  assert.equal(device(after, "cam").listenAddress, "2001:db8:1::80");
  assert.equal(device(after, "nas").listenAddress, "2001:db8:1::1");
  assert.equal(device(after, "nas").ownAddress, undefined);
  assert.deepEqual(after.desired.addresses, before.desired.addresses);
});

test("a device not found yet (no lease read, or away) keeps its own address: wanted, nothing listens on it", () => {
  const config = ownConfig();
  const printerAddress = `2001:db8:1:0:${PRINTER_SUFFIX.slice(2)}`;
  const present = [addr("2001:db8:1::1"), valid("2001:db8:1::80"), valid(printerAddress)];
  // Only the interfaces are known: as at a restart, before the lease files are read.
  const state = reduce(
    { config, facts: initialFacts },
    { type: "links", links: [link("wan0", present), link("lan0", [addr("192.168.1.1")])] },
  );
  const recorded = present
    .filter((a) => a.prefixlen === 128)
    .map((a) => ({ device: "?", interface: "wan0", address: a.address }));
  const p = plan({ ...state.facts, recordedAddresses: recorded }, config);
  assert.deepEqual(
    p.desired.addresses,
    [
      { device: "cam", interface: "wan0", address: "2001:db8:1::80" },
      { device: "printer", interface: "wan0", address: printerAddress },
    ],
    "a reconcile now must not remove the adopted addresses",
  );
  const cam = device(p, "cam");
  assert.equal(cam.waitingFor, "device");
  assert.deepEqual(cam.ownAddress, { address: "2001:db8:1::80", interface: "wan0", state: "valid" });
  assert.equal(cam.listenAddress, undefined);
  assert.deepEqual(
    p.desired.listeners.map((l) => l.device),
    ["nas"],
    "only nas (a configured address) serves: the others have no IPv4 address yet",
  );
});

test("a device's own address is never taken for the gateway's listen address", () => {
  const config = ownConfig();
  // Numerically lower than the gateway's own address, and equal in rank: "auto" would take it.
  const facts = factsWith(config, [addr("2001:db8:1::1000"), valid("2001:db8:1::80")]);
  assert.equal(facts.wanAddress, "2001:db8:1::1000");
  const alone = factsWith(config, [valid("2001:db8:1::80")]);
  assert.equal(alone.wanAddress, undefined, "only a device's address: the gateway has none");
});

test("a listen address with a prefix longer than /64 gives no own address: the device says so", () => {
  const config = ownConfig();
  const p = plan(factsWith(config, [addr("2001:db8:1::1", { prefixlen: 80 })]), config);
  const cam = device(p, "cam");
  assert.equal(cam.waitingFor, "own-address");
  assert.equal(
    cam.detail,
    "the listen address 2001:db8:1::1/80 has a prefix longer than /64: no room for an own address",
  );
  assert.deepEqual(p.desired.addresses, []);
  assert.deepEqual(
    p.desired.listeners.map((l) => l.device),
    ["nas"],
  );
});

test("an own address that is the gateway's own is refused as the device's reason, and never added", () => {
  const config = ownConfig();
  const p = plan(factsWith(config, [addr("2001:db8:1::1"), addr("2001:db8:1::80")]), config);
  const cam = device(p, "cam");
  assert.equal(cam.waitingFor, "own-address");
  assert.equal(
    cam.detail,
    "own address 2001:db8:1::80 is the gateway's own address on wan0: choose another ipv6Suffix",
  );
  assert.deepEqual(
    p.desired.addresses.map((a) => a.device),
    ["printer"],
  );
});

test("an own address on the interface that sixgate did not add is another's: not served on, not added, the reason says so", () => {
  const config = ownConfig();
  const printerAddress = `2001:db8:1:0:${PRINTER_SUFFIX.slice(2)}`;
  const printerRecord = { device: "printer", interface: "wan0", address: printerAddress };
  const wan = [addr("2001:db8:1::1"), valid("2001:db8:1::80"), valid(printerAddress)];
  const p = plan(factsWith(config, wan, [printerRecord]), config);
  const cam = device(p, "cam");
  assert.deepEqual(cam.listeners, [], "no listener on an address that is not ours");
  assert.equal(cam.listenAddress, undefined);
  assert.equal(cam.ownAddress, undefined);
  assert.equal(cam.waitingFor, "own-address");
  assert.equal(
    cam.detail,
    "own address 2001:db8:1::80 is in use by something else: it is on wan0 and sixgate did not add it (not in its record); remove it there, or set another ipv6Suffix for cam",
  );
  assert.deepEqual(p.desired.addresses, [printerRecord], "never added, never removed: not ours");
  assert.deepEqual(
    p.desired.listeners.map((l) => [l.device, l.wanAddress]),
    [
      ["nas", "2001:db8:1::1"],
      ["printer", printerAddress],
    ],
    "the others serve",
  );
  const phase = devicePhaseOf({ plan: cam, converging: false, listeners: [], probeFailure: undefined });
  assert.equal(phase.phase, "waiting");
  assert.match(phase.reason ?? "", /2001:db8:1::80 is in use by something else/);
  // Whatever the kernel says of it: tentative, or a failed DAD, it is still not ours.
  for (const flags of [{ tentative: true }, { tentative: true, dadfailed: true }]) {
    const other = [addr("2001:db8:1::1"), valid("2001:db8:1::80", flags)];
    const q = device(plan(factsWith(config, other, []), config), "cam");
    assert.deepEqual([q.waitingFor, q.listeners, q.ownAddress], ["own-address", [], undefined]);
    assert.match(q.detail ?? "", /in use by something else/);
  }
  // Recorded for another device (a renamed one): ours all the same.
  const renamed = plan(
    factsWith(config, wan, [printerRecord, { device: "old", interface: "wan0", address: "2001:db8:1::80" }]),
    config,
  );
  assert.equal(device(renamed, "cam").listenAddress, "2001:db8:1::80");
  // The record not read yet: nothing served on a present address meanwhile.
  const unread = plan({ ...factsWith(config, wan), recordedAddresses: undefined }, config);
  assert.deepEqual(
    unread.desired.listeners.map((l) => l.device),
    ["nas"],
  );
  assert.match(device(unread, "cam").detail ?? "", /the record of the addresses sixgate added is not read/);
  // Gone from the interface: ours to add again.
  const gone = plan(
    factsWith(config, [addr("2001:db8:1::1"), valid(printerAddress)], [printerRecord]),
    config,
  );
  assert.equal(device(gone, "cam").ownAddress?.state, "absent");
  assert.deepEqual(
    gone.desired.addresses.map((a) => a.device),
    ["cam", "printer"],
  );
});

test("a failed DAD keeps the address, serves nothing from it, and is that device's degraded reason", () => {
  const config = ownConfig();
  const printerAddress = `2001:db8:1:0:${PRINTER_SUFFIX.slice(2)}`;
  const p = plan(
    factsWith(config, [
      addr("2001:db8:1::1"),
      valid("2001:db8:1::80", { tentative: true, dadfailed: true }),
      valid(printerAddress),
    ]),
    config,
  );
  const cam = device(p, "cam");
  assert.equal(cam.ownAddress?.state, "dadfailed");
  assert.deepEqual(cam.listeners, []);
  assert.deepEqual(
    p.desired.addresses.map((a) => a.device),
    ["cam", "printer"],
    "kept: removing it would only start DAD again",
  );
  const phase = (d: DevicePlan) =>
    devicePhaseOf({ plan: d, converging: false, listeners: [], probeFailure: undefined });
  assert.deepEqual(phase(cam), {
    name: "cam",
    phase: "degraded",
    reason:
      "own address 2001:db8:1::80 is a duplicate: another host on wan0 uses it (DAD failed); set another ipv6Suffix",
  });
  const printer = device(p, "printer");
  assert.deepEqual(
    devicePhaseOf({
      plan: printer,
      converging: false,
      listeners: [{ listen: 80, state: "running", connections: 0, maxChildren: 64 }],
      probeFailure: undefined,
    }).phase,
    "serving",
  );
});

test("diff: an address is added before the listeners that bind it start, removed after those that bound it stop", () => {
  const config = ownConfig();
  const printerAddress = (prefix: string) => `${prefix}:${PRINTER_SUFFIX.slice(2)}`;
  const old = plan(
    factsWith(config, [
      addr("2001:db8:1::1"),
      valid("2001:db8:1::80"),
      valid(printerAddress("2001:db8:1:0")),
    ]),
    config,
  ).desired;
  const fresh = diff(EMPTY, old);
  assert.deepEqual(
    fresh.map((s) => s.kind),
    ["apply-snat", "add-address", "add-address", "start-listener", "start-listener", "start-listener"],
  );
  // Renumbering: the new prefix's addresses are added (and wait for DAD), the old ones go after their listeners.
  const renumbered = plan(factsWith(config, [addr("2001:db8:2::1")]), config).desired;
  const steps = diff(old, renumbered);
  assert.deepEqual(
    steps.map((s) =>
      s.kind === "add-address" || s.kind === "remove-address"
        ? `${s.kind} ${s.address.address}`
        : s.kind === "stop-listener" || s.kind === "start-listener"
          ? `${s.kind} ${s.spec.device} ${s.spec.wanAddress}`
          : s.kind,
    ),
    [
      "stop-listener cam 2001:db8:1::80",
      "stop-listener nas 2001:db8:1::1",
      `stop-listener printer ${printerAddress("2001:db8:1:0")}`,
      "remove-address 2001:db8:1::80",
      `remove-address ${printerAddress("2001:db8:1:0")}`,
      "add-address 2001:db8:2::80",
      `add-address ${printerAddress("2001:db8:2:0")}`,
      "start-listener nas 2001:db8:2::1",
    ],
  );
  assert.deepEqual(applySteps(old, steps), renumbered);
});

test("a WAN address change within the /64 leaves an own device untouched: its address and listener stay", () => {
  const config = ownConfig();
  const printer = `2001:db8:1:0:${PRINTER_SUFFIX.slice(2)}`;
  const own = [valid("2001:db8:1::80"), valid(printer)];
  const before = plan(factsWith(config, [addr("2001:db8:1::1"), ...own]), config).desired;
  const after = plan(factsWith(config, [addr("2001:db8:1::2"), ...own]), config).desired;
  const steps = diff(before, after);
  assert.deepEqual(
    steps.map((s) =>
      s.kind === "stop-listener" || s.kind === "start-listener" ? `${s.kind} ${s.spec.device}` : s.kind,
    ),
    ["stop-listener nas", "start-listener nas"],
    "only the shared device moves",
  );
});

test("doctor's own-address check: ok once valid, warn while tentative, fail on a duplicate, absent or impossible one", () => {
  const config = ownConfig();
  const printer = `2001:db8:1:0:${PRINTER_SUFFIX.slice(2)}`;
  const checkOf = (wan: AddrInfo[], name = "cam") => {
    const checks = ownAddressChecks(config, device(plan(factsWith(config, wan), config), name));
    return checks.map((c) => [c.id, c.status, c.detail]);
  };
  const gw = addr("2001:db8:1::1");
  assert.deepEqual(checkOf([gw, valid("2001:db8:1::80"), valid(printer)]), [
    ["own-address", "ok", "2001:db8:1::80/128 on wan0, duplicate address detection passed"],
  ]);
  assert.equal(checkOf([gw, valid("2001:db8:1::80", { tentative: true })])[0]?.[1], "warn");
  assert.deepEqual(
    checkOf([gw, valid("2001:db8:1::80", { tentative: true, dadfailed: true })])[0]?.slice(0, 2),
    ["own-address", "fail"],
  );
  assert.match(String(checkOf([gw])[0]?.[2]), /^2001:db8:1::80 is not on wan0/);
  assert.match(
    String(checkOf([addr("2001:db8:1::1", { prefixlen: 96 })])[0]?.[2]),
    /prefix longer than \/64/,
  );
  assert.deepEqual(checkOf([gw], "nas"), [], "a shared device has no such check");
});

test("plan and doctor show an own address refused as another's: the plan line says so, doctor's check fails naming it", () => {
  const config = ownConfig();
  const printer = `2001:db8:1:0:${PRINTER_SUFFIX.slice(2)}`;
  const wan = [addr("2001:db8:1::1"), valid("2001:db8:1::80"), valid(printer)];
  const p = plan(
    factsWith(config, wan, [{ device: "printer", interface: "wan0", address: printer }]),
    config,
  );
  assert.equal(
    describeDevicePlan(device(p, "cam")),
    "# device cam: 192.168.1.100 (02:00:00:00:01:00), own IPv6 2001:db8:1::80 on wan0 (in use by something else: not added by sixgate), 0 listeners: refused, not served: remove 2001:db8:1::80/128 from wan0, or set another ipv6Suffix for cam",
  );
  assert.equal(
    describeDevicePlan(device(p, "printer")),
    `# device printer: 192.168.1.101 (02:00:00:00:02:00), own IPv6 ${printer} on wan0 (valid), 1 listeners`,
  );
  const [check, ...more] = ownAddressChecks(config, device(p, "cam"));
  assert.deepEqual(more, []);
  assert.deepEqual(check, {
    id: "own-address",
    title: "Own IPv6 address 2001:db8:1::80",
    status: "fail",
    detail: `2001:db8:1::80 is on wan0 but sixgate did not add it (not in ${config.runtimeDir}/addresses.json): it is in use by something else, so cam is not served there`,
    fix: "if it is a leftover, remove it (ip -6 addr del 2001:db8:1::80/128 dev wan0); else set another ipv6Suffix for cam",
  });
  assert.equal(ownAddressChecks(config, device(p, "printer"))[0]?.status, "ok");
});
