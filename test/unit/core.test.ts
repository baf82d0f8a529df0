import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { applySteps, diff, sameDesired } from "../../src/core/diff.js";
import { initialFacts, reduce, selectWanAddress } from "../../src/core/facts.js";
import { plan } from "../../src/core/plan.js";
import { parseDnsmasqLeases } from "../../src/core/leases.js";
import { phaseOf } from "../../src/core/phase.js";
import type { Desired, ListenerSpec, SnatRule } from "../../src/core/types.js";
import { addr, healthyFacts, lease, link, makeConfig } from "./fixtures.js";

const config = makeConfig();

test("a healthy gateway plans SNAT for the target ports and one listener per port", () => {
  const p = plan(healthyFacts(), config);
  assert.equal(p.waitingFor, undefined);
  assert.deepEqual(p.desired.snat, {
    lanInterface: "lan0",
    lanAddress: "192.168.1.1",
    deviceAddress: "192.168.1.100",
    ports: [23, 80],
  });
  assert.deepEqual(
    p.desired.listeners.map((l) => [l.listen, l.target, l.wanAddress, l.deviceAddress]),
    [
      [80, 80, "2001:db8:1::1", "192.168.1.100"],
      [2323, 23, "2001:db8:1::1", "192.168.1.100"],
    ],
  );
});

test("plan says what it waits for, in the order a person would check", () => {
  const f = healthyFacts();
  const lan = f.links?.lan0;
  const wan = f.links?.wan0;
  assert.ok(lan && wan);
  const cases: [string, Parameters<typeof plan>[0], string | undefined][] = [
    ["lan missing", { ...f, links: { wan0: wan } }, "lan-link"],
    ["lan down", { ...f, links: { wan0: wan, lan0: { ...lan, up: false } } }, "lan-link"],
    ["lan without IPv4", { ...f, links: { wan0: wan, lan0: link("lan0", []) } }, "lan-address"],
    ["no lease", healthyFacts({ leases: [] }), "device"],
    [
      "two leases, no mac",
      healthyFacts({
        leases: [lease("02:00:00:00:01:00", "192.168.1.100"), lease("02:00:00:00:01:01", "192.168.1.101")],
      }),
      "device",
    ],
    ["wan down", { ...f, links: { lan0: lan, wan0: { ...wan, up: false } } }, "wan-link"],
    ["no wan address", { ...f, wanAddress: undefined }, "wan-address"],
    ["healthy", f, undefined],
  ];
  for (const [name, facts, waiting] of cases) assert.equal(plan(facts, config).waitingFor, waiting, name);
});

test("SNAT stays while only the WAN is missing, so a WAN flap never churns the firewall", () => {
  const f = healthyFacts();
  const down = plan({ ...f, wanAddress: undefined }, config);
  assert.deepEqual(down.desired.snat, plan(f, config).desired.snat);
  assert.deepEqual(down.desired.listeners, []);
});

test("device selection: static address, lease by MAC (newest), single lease", () => {
  const leases = [
    lease("02:00:00:00:01:00", "192.168.1.100", 100),
    lease("02:00:00:00:01:00", "192.168.1.120", 200),
    lease("02:00:00:00:01:01", "192.168.1.101"),
  ];
  const macConfig = makeConfig({ device: { mac: "02:00:00:00:01:00" } });
  const byMac = plan(healthyFacts({ leases }, macConfig), macConfig);
  assert.equal(byMac.device.address, "192.168.1.120");
  assert.equal(byMac.device.source, "lease-mac");
  const fixedConfig = makeConfig({ device: { address: "192.168.1.50" } });
  const fixed = plan(healthyFacts({ leases }, fixedConfig), fixedConfig);
  assert.equal(fixed.device.address, "192.168.1.50");
  assert.equal(fixed.device.source, "config");
  const otherConfig = makeConfig({ device: { mac: "02:00:00:00:09:09" } });
  const unknownMac = plan(healthyFacts({}, otherConfig), otherConfig);
  assert.equal(unknownMac.waitingFor, "device");
  assert.match(unknownMac.detail ?? "", /02:00:00:00:09:09/);
});

test("device selection by MAC: an infinite lease (expiry 0) outlives any finite one, in either order", () => {
  const macConfig = makeConfig({ device: { mac: "02:00:00:00:01:00" } });
  const infinite = lease("02:00:00:00:01:00", "192.168.1.130", 0);
  const finite = lease("02:00:00:00:01:00", "192.168.1.120", 1795700000);
  for (const leases of [
    [infinite, finite],
    [finite, infinite],
  ]) {
    assert.equal(plan(healthyFacts({ leases }, macConfig), macConfig).device.address, "192.168.1.130");
  }
});

test("LAN address: the one whose subnet holds the device", () => {
  const f = healthyFacts({
    links: { ...healthyFacts().links, lan0: link("lan0", [addr("10.0.0.1"), addr("192.168.1.1")]) },
  });
  assert.equal(plan(f, config).lanAddress, "192.168.1.1");
});

test("a vanished lease keeps the last known device; a new lease replaces it; another MAC does not inherit it", () => {
  const macConfig = makeConfig({ device: { mac: "02:00:00:00:01:00" } });
  let state = { config: macConfig, facts: healthyFacts({}, macConfig) };
  state = reduce(state, { type: "leases", leases: [] });
  assert.equal(state.facts.device.address, "192.168.1.100");
  assert.match(state.facts.device.detail ?? "", /keeping the last known address/);
  assert.equal(plan(state.facts, macConfig).waitingFor, undefined);
  state = reduce(state, { type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.120")] });
  assert.equal(state.facts.device.address, "192.168.1.120");
  const other = makeConfig({ device: { mac: "02:00:00:00:09:09" } });
  state = reduce(state, { type: "config", config: other });
  assert.equal(state.facts.device.address, undefined);
  assert.equal(plan(state.facts, other).waitingFor, "device");
});

test("phase: a failed probe degrades an otherwise serving agent, naming the hop", () => {
  const p = plan(healthyFacts(), config);
  const base = {
    observed: true,
    stopping: false,
    plan: p,
    converging: false,
    reconcileError: undefined,
    listeners: [{ listen: 80, state: "running" as const, connections: 3, maxChildren: 4 }],
    probeFailure: undefined,
  };
  assert.deepEqual(phaseOf(base), { phase: "serving" });
  assert.deepEqual(phaseOf({ ...base, probeFailure: "probe failed: device port 80: ECONNREFUSED" }), {
    phase: "degraded",
    reason: "probe failed: device port 80: ECONNREFUSED",
  });
  assert.equal(
    phaseOf({ ...base, listeners: [{ listen: 80, state: "restarting", connections: 0, maxChildren: 4 }] })
      .reason,
    "listener :80 restarting",
  );
  // At max-children the port accepts no more, though the probe (which only connects) may still pass.
  assert.deepEqual(
    phaseOf({ ...base, listeners: [{ listen: 80, state: "running", connections: 4, maxChildren: 4 }] }),
    { phase: "degraded", reason: "listener full, accepting no more: :80 (4 connections)" },
  );
  assert.equal(phaseOf({ ...base, converging: true }).phase, "converging");
});

test("disabled plans nothing", () => {
  const p = plan(healthyFacts({ enabled: false }), config);
  assert.deepEqual(p.desired, { snat: null, listeners: [] });
  assert.equal(
    phaseOf({
      observed: true,
      stopping: false,
      plan: p,
      converging: false,
      reconcileError: undefined,
      listeners: [],
      probeFailure: undefined,
    }).phase,
    "disabled",
  );
});

test("run-time ports replace the config's", () => {
  const p = plan(healthyFacts({ ports: [{ listen: 8080, target: 8080 }] }), config);
  assert.deepEqual(
    p.desired.listeners.map((l) => l.listen),
    [8080],
  );
  assert.deepEqual(p.desired.snat?.ports, [8080]);
});

test("WAN address selection skips tentative, deprecated, temporary, link-local; keeps the current one", () => {
  const wan = link("wan0", [
    addr("2001:db8:1::9", { tentative: true }),
    addr("2001:db8:1::8", { deprecated: true }),
    addr("2001:db8:1::7", { temporary: true }),
    addr("fe80::1", { scope: "link" }),
    addr("fd00::1"),
    addr("2001:db8:1::5"),
    addr("2001:db8:1::3"),
  ]);
  assert.equal(selectWanAddress(wan, "auto", undefined), "2001:db8:1::3", "lowest global before ULA");
  assert.equal(selectWanAddress(wan, "auto", "2001:db8:1::5"), "2001:db8:1::5", "sticky");
  assert.equal(
    selectWanAddress(wan, "auto", "2001:db8:1::9"),
    "2001:db8:1::3",
    "tentative current is dropped",
  );
  assert.equal(selectWanAddress(wan, "2001:db8:1::9", undefined), undefined, "configured but tentative");
  assert.equal(selectWanAddress(wan, "2001:db8:1::5", "2001:db8:1::3"), "2001:db8:1::5", "configured wins");
  assert.equal(selectWanAddress(link("wan0", [addr("fd00::1")]), "auto", undefined), "fd00::1");
});

test("reduce: a tentative address becomes usable on the snapshot after DAD", () => {
  let state = { config, facts: initialFacts };
  const lan = link("lan0", [addr("192.168.1.1")]);
  state = reduce(state, {
    type: "links",
    links: [lan, link("wan0", [addr("2001:db8:1::1", { tentative: true })])],
  });
  assert.equal(state.facts.wanAddress, undefined);
  state = reduce(state, { type: "links", links: [lan, link("wan0", [addr("2001:db8:1::1")])] });
  assert.equal(state.facts.wanAddress, "2001:db8:1::1");
});

test("dnsmasq lease file parsing skips junk and IPv6 leases", () => {
  const text = [
    "1795700000 02:00:00:00:01:00 192.168.1.100 camera 01:02:00:00:00:01:00",
    "garbage line",
    "1795700000 zz:00:00:00:01:00 192.168.1.101 bad *",
    "0 02:00:00:00:01:01 192.168.1.102 * *",
    "duid 00:01:00:01",
    "1795700000 1234 2001:db8::5 host 0001",
  ].join("\n");
  assert.deepEqual(parseDnsmasqLeases(text), [
    { mac: "02:00:00:00:01:00", address: "192.168.1.100", hostname: "camera", expires: 1795700000 },
    { mac: "02:00:00:00:01:01", address: "192.168.1.102", hostname: "*", expires: 0 },
  ]);
});

// ---- diff properties ----

const spec = (listen: number, over: Partial<ListenerSpec> = {}): ListenerSpec => ({
  listen,
  target: listen,
  wanInterface: "wan0",
  wanAddress: "2001:db8:1::1",
  deviceAddress: "192.168.1.100",
  lanAddress: "192.168.1.1",
  lanInterface: "lan0",
  maxChildren: 64,
  backlog: 32,
  connectTimeoutSec: 5,
  keepaliveSec: 120,
  idleTimeoutSec: null,
  ...over,
});

const arbSnat: fc.Arbitrary<SnatRule | null> = fc.option(
  fc.record({
    lanInterface: fc.constantFrom("lan0", "br-lan"),
    lanAddress: fc.constantFrom("192.168.1.1", "192.168.2.1"),
    deviceAddress: fc.constantFrom("192.168.1.100", "192.168.1.120"),
    ports: fc
      .uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 4 })
      .map((p) => p.sort((a, b) => a - b)),
  }),
  { nil: null },
);

const arbDesired: fc.Arbitrary<Desired> = fc.record({
  snat: arbSnat,
  listeners: fc
    .uniqueArray(fc.constantFrom(22, 80, 443, 2323, 8080), { maxLength: 5 })
    .chain((ports) =>
      fc.tuple(
        ...ports.map((p) =>
          fc
            .record({
              wanAddress: fc.constantFrom("2001:db8:1::1", "2001:db8:1::2"),
              target: fc.constantFrom(p, 23),
            })
            .map((o) => spec(p, o)),
        ),
      ),
    )
    .map((ls) => [...ls].sort((a, b) => a.listen - b.listen)),
});

test("diff(x, x) is empty", () => {
  fc.assert(fc.property(arbDesired, (x) => diff(x, x).length === 0));
});

test("applying diff(a, b) to a gives b", () => {
  fc.assert(fc.property(arbDesired, arbDesired, (a, b) => sameDesired(applySteps(a, diff(a, b)), b)));
});

test("plan is deterministic and its output is sorted", () => {
  fc.assert(
    fc.property(fc.shuffledSubarray([80, 443, 2323, 8080, 22], { minLength: 1 }), (ports) => {
      const c = makeConfig({ ports: ports.map((p) => ({ listen: p, target: p })) });
      const a = plan(healthyFacts(), c);
      const b = plan(healthyFacts(), c);
      assert.deepEqual(a, b);
      const listens = a.desired.listeners.map((l) => l.listen);
      assert.deepEqual(
        listens,
        [...listens].sort((x, y) => x - y),
      );
    }),
  );
});

test("diff touches only what differs: WAN renumbering leaves the firewall alone; a lease change with the same address does nothing", () => {
  const before = plan(healthyFacts(), config).desired;
  const renumbered = plan(
    healthyFacts({
      wanAddress: "2001:db8:2::1",
      links: { ...healthyFacts().links, wan0: link("wan0", [addr("2001:db8:2::1")]) },
    }),
    config,
  ).desired;
  const steps = diff(before, renumbered);
  assert.ok(steps.every((s) => s.kind === "stop-listener" || s.kind === "start-listener"));
  assert.equal(steps.length, 4);
  const sameLeaseAgain = plan(
    healthyFacts({ leases: [lease("02:00:00:00:01:00", "192.168.1.100", 99999)] }),
    config,
  ).desired;
  assert.deepEqual(diff(before, sameLeaseAgain), []);
});

test("diff orders stops, then the firewall, then starts", () => {
  const a: Desired = { snat: null, listeners: [spec(80)] };
  const b: Desired = {
    snat: { lanInterface: "lan0", lanAddress: "192.168.1.1", deviceAddress: "192.168.1.120", ports: [80] },
    listeners: [spec(80, { deviceAddress: "192.168.1.120" })],
  };
  assert.deepEqual(
    diff(a, b).map((s) => s.kind),
    ["stop-listener", "apply-snat", "start-listener"],
  );
});
