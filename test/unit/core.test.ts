import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { applySteps, diff, sameDesired } from "../../src/core/diff.js";
import { initialFacts, reduce, selectWanAddress } from "../../src/core/facts.js";
import { plan } from "../../src/core/plan.js";
import { parseDnsmasqLeases } from "../../src/core/leases.js";
import { devicePhaseOf, phaseOf, type DevicePhaseInput } from "../../src/core/phase.js";
import type { AddrInfo, Desired, LinkInfo, ListenerSpec, SnatRule, State } from "../../src/core/types.js";
import { addr, healthyFacts, lease, link, listenerSpec, makeConfig, only } from "./fixtures.js";

const config = makeConfig();

test("a healthy gateway plans SNAT for the target ports and one listener per port", () => {
  const p = plan(healthyFacts(), config);
  assert.equal(p.waitingFor, undefined);
  assert.deepEqual(p.desired.snat, [
    {
      device: "device",
      lanInterface: "lan0",
      lanAddress: "192.168.1.1",
      deviceAddress: "192.168.1.100",
      ports: [23, 80],
    },
  ]);
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
  assert.equal(only(byMac).device.address, "192.168.1.120");
  assert.equal(only(byMac).device.source, "lease-mac");
  const fixedConfig = makeConfig({ device: { address: "192.168.1.50" } });
  const fixed = plan(healthyFacts({ leases }, fixedConfig), fixedConfig);
  assert.equal(only(fixed).device.address, "192.168.1.50");
  assert.equal(only(fixed).device.source, "config");
  const otherConfig = makeConfig({ device: { mac: "02:00:00:00:09:09" } });
  const unknownMac = plan(healthyFacts({}, otherConfig), otherConfig);
  assert.equal(unknownMac.waitingFor, "device");
  assert.match(unknownMac.detail ?? "", /02:00:00:00:09:09/);
});

test("a device address that is the gateway's own is never served: no SNAT, no listener, the reason says why", () => {
  for (const [address, iface] of [
    ["192.168.1.1", "lan0"],
    ["10.0.0.2", "wan0"],
  ] as const) {
    const own = makeConfig({ device: { address } });
    const facts = healthyFacts({}, own);
    const links = {
      ...facts.links,
      wan0: link("wan0", [addr("2001:db8:1::1"), addr("10.0.0.2", { prefixlen: 24 })]),
    };
    const p = plan(healthyFacts({ links }, own), own);
    assert.deepEqual(p.desired.snat, [], address);
    assert.deepEqual(p.desired.listeners, [], address);
    assert.equal(only(p).waitingFor, "device");
    assert.match(
      only(p).detail ?? "",
      new RegExp(`${address.replace(/\./g, "\\.")} is the gateway's own \\(on ${iface}\\)`),
    );
  }
});

test("device selection by MAC: an infinite lease (expiry 0) outlives any finite one, in either order", () => {
  const macConfig = makeConfig({ device: { mac: "02:00:00:00:01:00" } });
  const infinite = lease("02:00:00:00:01:00", "192.168.1.130", 0);
  const finite = lease("02:00:00:00:01:00", "192.168.1.120", 1795700000);
  for (const leases of [
    [infinite, finite],
    [finite, infinite],
  ]) {
    assert.equal(only(plan(healthyFacts({ leases }, macConfig), macConfig)).device.address, "192.168.1.130");
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
  assert.equal(state.facts.devices.device?.address, "192.168.1.100");
  assert.match(state.facts.devices.device.detail ?? "", /keeping the last known address/);
  assert.equal(plan(state.facts, macConfig).waitingFor, undefined);
  state = reduce(state, { type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.120")] });
  assert.equal(state.facts.devices.device?.address, "192.168.1.120");
  const other = makeConfig({ device: { mac: "02:00:00:00:09:09" } });
  state = reduce(state, { type: "config", config: other });
  assert.equal(state.facts.devices.device?.address, undefined);
  assert.equal(plan(state.facts, other).waitingFor, "device");
});

test("phase: a failed probe degrades an otherwise serving agent, naming the hop", () => {
  const p = plan(healthyFacts(), config);
  const base = {
    plan: only(p),
    converging: false,
    listeners: [{ listen: 80, state: "running" as const, connections: 3, maxChildren: 4 }],
    probeFailure: undefined,
  };
  const agent = (d: DevicePhaseInput) =>
    phaseOf({
      observed: true,
      stopping: false,
      plan: p,
      reconcileError: undefined,
      devices: [devicePhaseOf(d)],
    });
  assert.deepEqual(agent(base), { phase: "serving", waitingFor: undefined, reason: undefined });
  assert.deepEqual(agent({ ...base, probeFailure: "probe failed: device port 80: ECONNREFUSED" }), {
    phase: "degraded",
    waitingFor: undefined,
    reason: "probe failed: device port 80: ECONNREFUSED",
  });
  assert.equal(
    agent({ ...base, listeners: [{ listen: 80, state: "restarting", connections: 0, maxChildren: 4 }] })
      .reason,
    "listener :80 restarting",
  );
  // At max-children the port accepts no more, though the probe (which only connects) may still pass.
  assert.deepEqual(
    agent({ ...base, listeners: [{ listen: 80, state: "running", connections: 4, maxChildren: 4 }] }),
    {
      phase: "degraded",
      waitingFor: undefined,
      reason: "listener full, accepting no more: :80 (4 connections)",
    },
  );
  assert.equal(agent({ ...base, converging: true }).phase, "converging");
});

test("disabled plans nothing", () => {
  const p = plan(healthyFacts({ choices: { device: { enabled: false, ports: undefined } } }), config);
  assert.deepEqual(p.desired, { snat: [], listeners: [], addresses: [] });
  const device = devicePhaseOf({ plan: only(p), converging: false, listeners: [], probeFailure: undefined });
  assert.equal(device.phase, "disabled");
  assert.equal(
    phaseOf({ observed: true, stopping: false, plan: p, reconcileError: undefined, devices: [device] }).phase,
    "disabled",
  );
});

test("run-time ports replace the config's", () => {
  const p = plan(
    healthyFacts({ choices: { device: { enabled: true, ports: [{ listen: 8080, target: 8080 }] } } }),
    config,
  );
  assert.deepEqual(
    p.desired.listeners.map((l) => l.listen),
    [8080],
  );
  assert.deepEqual(p.desired.snat[0]?.ports, [8080]);
});

test("WAN address selection: better evidence wins; the address in use stays only among equals", () => {
  const W = (...addresses: AddrInfo[]) => link("wan0", addresses);
  const global = addr("2001:db8:1::1");
  const ula = addr("fd00:db8:1::1");
  const deprecated = (a: string) => addr(a, { deprecated: true });
  // [case, link, wan.address, address in use, expected]
  const cases: [string, LinkInfo, string, string | undefined, string | undefined][] = [
    [
      "lowest global first",
      W(addr("2001:db8:1::5"), addr("2001:db8:1::3")),
      "auto",
      undefined,
      "2001:db8:1::3",
    ],
    [
      "the one in use stays among equals",
      W(addr("2001:db8:1::5"), addr("2001:db8:1::3")),
      "auto",
      "2001:db8:1::5",
      "2001:db8:1::5",
    ],
    [
      "a global address arriving beside the ULA in use wins",
      W(global, ula),
      "auto",
      "fd00:db8:1::1",
      "2001:db8:1::1",
    ],
    ["a ULA alone is used", W(ula), "auto", undefined, "fd00:db8:1::1"],
    [
      "a preferred address beside the deprecated one in use wins",
      W(deprecated("2001:db8:1::1"), addr("2001:db8:2::1")),
      "auto",
      "2001:db8:1::1",
      "2001:db8:2::1",
    ],
    [
      "a deprecated global is a last resort",
      W(deprecated("2001:db8:1::8"), addr("fe80::1", { scope: "link" })),
      "auto",
      undefined,
      "2001:db8:1::8",
    ],
    [
      "a deprecated global reaches further than a preferred ULA",
      W(ula, deprecated("2001:db8:1::8")),
      "auto",
      "fd00:db8:1::1",
      "2001:db8:1::8",
    ],
    [
      "tentative, dadfailed, temporary, link-local are never picked",
      W(
        addr("2001:db8:1::9", { tentative: true }),
        addr("2001:db8:1::6", { dadfailed: true }),
        addr("2001:db8:1::7", { temporary: true }),
        addr("fe80::1", { scope: "link" }),
      ),
      "auto",
      undefined,
      undefined,
    ],
    [
      "a tentative address in use is dropped",
      W(addr("2001:db8:1::9", { tentative: true }), addr("2001:db8:1::3")),
      "auto",
      "2001:db8:1::9",
      "2001:db8:1::3",
    ],
    [
      "a literal wins over better candidates",
      W(global, addr("2001:db8:1::5")),
      "2001:db8:1::5",
      "2001:db8:1::1",
      "2001:db8:1::5",
    ],
    [
      "a literal deprecated on purpose (service address) is used",
      W(global, deprecated("2001:db8:1::53")),
      "2001:db8:1::53",
      undefined,
      "2001:db8:1::53",
    ],
    [
      "a literal temporary address is the operator's choice",
      W(addr("2001:db8:1::7", { temporary: true })),
      "2001:db8:1::7",
      undefined,
      "2001:db8:1::7",
    ],
    [
      "a tentative literal waits",
      W(global, addr("2001:db8:1::9", { tentative: true })),
      "2001:db8:1::9",
      undefined,
      undefined,
    ],
    [
      "a literal that failed DAD is not used",
      W(addr("2001:db8:1::9", { dadfailed: true })),
      "2001:db8:1::9",
      undefined,
      undefined,
    ],
    ["a literal not on the link waits", W(global), "2001:db8:1::9", "2001:db8:1::1", undefined],
  ];
  const wrong = cases
    .map(([name, wan, configured, current, expected]) => [
      name,
      selectWanAddress(wan, configured, current),
      expected,
    ])
    .filter(([, got, expected]) => got !== expected);
  assert.deepEqual(wrong, [], "[case, chosen, expected]");
});

test("reduce: a ULA chosen first gives way to a global address, and a fresh observation agrees", () => {
  const lan = link("lan0", [addr("192.168.1.1")]);
  const snapshots = [
    [link("wan0", [addr("fd00:db8:1::1")]), lan],
    [link("wan0", [addr("2001:db8:1::1"), addr("fd00:db8:1::1")]), lan],
  ];
  let agent: State = { config, facts: initialFacts };
  for (const links of snapshots) agent = reduce(agent, { type: "links", links });
  const fresh = reduce({ config, facts: initialFacts }, { type: "links", links: snapshots[1] ?? [] });
  assert.equal(agent.facts.wanAddress, "2001:db8:1::1");
  assert.equal(fresh.facts.wanAddress, agent.facts.wanAddress);
});

test("property: the agent's WAN address after any history equals a fresh observation seeded with the address it held", () => {
  const arbAddr = fc.record({
    address: fc.constantFrom(
      "2001:db8:1::1",
      "2001:db8:1::2",
      "2001:db8:2::1",
      "fd00:db8:1::1",
      "fd00:db8:1::2",
    ),
    deprecated: fc.boolean(),
    tentative: fc.boolean(),
    temporary: fc.boolean(),
  });
  const arbSnapshot = fc.uniqueArray(arbAddr, { selector: (a) => a.address, maxLength: 5 }).map((list) => [
    link(
      "wan0",
      list.map(({ address, ...flags }) => addr(address, flags)),
    ),
  ]);
  fc.assert(
    fc.property(fc.array(arbSnapshot, { minLength: 1, maxLength: 6 }), (snapshots) => {
      let agent: State = { config, facts: initialFacts };
      let held: string | undefined;
      for (const links of snapshots) {
        held = agent.facts.wanAddress;
        agent = reduce(agent, { type: "links", links });
      }
      const last = snapshots[snapshots.length - 1] ?? [];
      const seeded = reduce(
        { config, facts: { ...initialFacts, wanAddress: held } },
        { type: "links", links: last },
      );
      const fresh = reduce({ config, facts: initialFacts }, { type: "links", links: last });
      assert.equal(seeded.facts.wanAddress, agent.facts.wanAddress);
      // Without the seed, only a choice between equals may differ.
      const rank = (s: State) => last[0]?.addresses.find((a) => a.address === s.facts.wanAddress);
      assert.equal(rank(fresh)?.deprecated, rank(agent)?.deprecated);
      assert.equal(rank(fresh)?.address.startsWith("fd"), rank(agent)?.address.startsWith("fd"));
    }),
    { numRuns: 2000 },
  );
});

test("a prefix-delegation-only uplink: the address comes from wan.addressFrom, the link state from wan.interface", () => {
  const pd = makeConfig({
    wan: { interface: "pppoe-wan", addressFrom: "br-lan" },
    lan: { interface: "br-lan" },
  });
  const uplink = (up: boolean) => link("pppoe-wan", [addr("fe80::2", { scope: "link" })], up);
  const bridge = link("br-lan", [
    addr("192.168.1.1"),
    addr("2001:db8:1:100::1"),
    addr("fe80::1", { scope: "link" }),
  ]);
  let state: State = { config: pd, facts: initialFacts };
  state = reduce(state, { type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.100")] });
  state = reduce(state, { type: "links", links: [uplink(true), bridge] });
  assert.equal(state.facts.wanAddress, "2001:db8:1:100::1");
  const p = plan(state.facts, pd);
  assert.equal(p.waitingFor, undefined);
  assert.deepEqual(
    p.desired.listeners.map((l) => [l.wanInterface, l.wanAddress, l.listen]),
    [
      ["pppoe-wan", "2001:db8:1:100::1", 80],
      ["pppoe-wan", "2001:db8:1:100::1", 2323],
    ],
  );
  state = reduce(state, { type: "links", links: [uplink(false), bridge] });
  assert.equal(plan(state.facts, pd).waitingFor, "wan-link", "the uplink's carrier still matters");
  // Without addressFrom the uplink's link-local address is all there is.
  const plain = makeConfig({ wan: { interface: "pppoe-wan" }, lan: { interface: "br-lan" } });
  const without = reduce(
    { config: plain, facts: { ...state.facts, wanAddress: undefined } },
    { type: "links", links: [uplink(true), bridge] },
  );
  assert.equal(without.facts.wanAddress, undefined);
  assert.match(plan(without.facts, plain).detail ?? "", /on pppoe-wan/);
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
  assert.deepEqual(parseDnsmasqLeases(text).leases, [
    { mac: "02:00:00:00:01:00", address: "192.168.1.100", hostname: "camera", expires: 1795700000 },
    { mac: "02:00:00:00:01:01", address: "192.168.1.102", hostname: "*", expires: 0 },
  ]);
});

// ---- diff properties ----

const spec = (listen: number, over: Partial<ListenerSpec> = {}): ListenerSpec =>
  listenerSpec({ listen, target: listen, ...over });

const arbSnat: fc.Arbitrary<SnatRule[]> = fc
  .option(
    fc.record({
      device: fc.constant("device"),
      lanInterface: fc.constantFrom("lan0", "br-lan"),
      lanAddress: fc.constantFrom("192.168.1.1", "192.168.2.1"),
      deviceAddress: fc.constantFrom("192.168.1.100", "192.168.1.120"),
      ports: fc
        .uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 4 })
        .map((p) => p.sort((a, b) => a - b)),
    }),
    { nil: null },
  )
  .map((r) => (r === null ? [] : [r]));

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
  addresses: fc
    .subarray(["cam", "printer"])
    .chain((devices) =>
      fc.tuple(
        ...devices.map((device) =>
          fc
            .constantFrom("2001:db8:1::80", "2001:db8:2::80")
            .map((address) => ({ device, interface: "wan0", address })),
        ),
      ),
    ),
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
  const a: Desired = { snat: [], listeners: [spec(80)], addresses: [] };
  const b: Desired = {
    snat: [
      {
        device: "device",
        lanInterface: "lan0",
        lanAddress: "192.168.1.1",
        deviceAddress: "192.168.1.120",
        ports: [80],
      },
    ],
    listeners: [spec(80, { deviceAddress: "192.168.1.120" })],
    addresses: [],
  };
  assert.deepEqual(
    diff(a, b).map((s) => s.kind),
    ["stop-listener", "apply-snat", "start-listener"],
  );
});

test("listener.halfCloseSec reaches every listener spec, and a change of it restarts the listeners", () => {
  const before = plan(healthyFacts(), config).desired;
  assert.deepEqual(
    before.listeners.map((l) => l.halfCloseSec),
    [30, 30],
  );
  const after = plan(healthyFacts(), makeConfig({ listener: { halfCloseSec: 2.5 } })).desired;
  assert.deepEqual(
    after.listeners.map((l) => l.halfCloseSec),
    [2.5, 2.5],
  );
  assert.deepEqual(
    diff(before, after).map((s) => s.kind),
    ["stop-listener", "stop-listener", "start-listener", "start-listener"],
  );
});

// ---- several devices ----

const three = makeConfig({
  device: undefined,
  ports: undefined,
  devices: [
    { name: "cam", mac: "02:00:00:00:01:00", ports: [{ listen: 8080, target: 80 }] },
    { name: "printer", mac: "02:00:00:00:02:00", ports: [{ listen: 9100, target: 9100 }] },
    { name: "plc", address: "192.168.1.50", ports: [{ listen: 502, target: 502 }] },
  ],
});

const devicePhases = (p: ReturnType<typeof plan>) =>
  p.devices.map((d) => devicePhaseOf({ plan: d, converging: false, listeners: [], probeFailure: undefined }));

test("several devices: one without an address waits on its own; the others are served; the agent is degraded naming it", () => {
  const facts = healthyFacts({ leases: [lease("02:00:00:00:01:00", "192.168.1.100")] }, three);
  const p = plan(facts, three);
  assert.equal(p.waitingFor, undefined);
  assert.deepEqual(
    p.devices.map((d) => [d.name, d.device.address, d.waitingFor, d.listeners.length]),
    [
      ["cam", "192.168.1.100", undefined, 1],
      ["printer", undefined, "device", 0],
      ["plc", "192.168.1.50", undefined, 1],
    ],
  );
  assert.deepEqual(
    p.desired.snat.map((r) => [r.device, r.deviceAddress, r.ports]),
    [
      ["cam", "192.168.1.100", [80]],
      ["plc", "192.168.1.50", [502]],
    ],
  );
  const phase = phaseOf({
    observed: true,
    stopping: false,
    plan: p,
    reconcileError: undefined,
    devices: devicePhases(p),
  });
  assert.equal(phase.phase, "degraded");
  assert.match(phase.reason ?? "", /^printer: no DHCP lease or neighbour entry for 02:00:00:00:02:00/);
});

test("several devices: every one unknown is the agent's wait, each named", () => {
  const two = makeConfig({ device: undefined, ports: undefined, devices: three.devices.slice(0, 2) });
  const p = plan(healthyFacts({ leases: [] }, two), two);
  assert.equal(p.waitingFor, "device");
  assert.match(p.detail ?? "", /^cam: no DHCP lease .*; printer: no DHCP lease/);
});

test("several devices: a re-lease of one touches only its listener and the rule set, never another device's listener", () => {
  const leases = [lease("02:00:00:00:01:00", "192.168.1.100"), lease("02:00:00:00:02:00", "192.168.1.101")];
  let state: State = { config: three, facts: healthyFacts({ leases }, three) };
  const before = plan(state.facts, three).desired;
  state = reduce(state, {
    type: "leases",
    leases: [lease("02:00:00:00:01:00", "192.168.1.120"), lease("02:00:00:00:02:00", "192.168.1.101")],
  });
  const steps = diff(before, plan(state.facts, three).desired);
  assert.deepEqual(
    steps.map((s) =>
      s.kind === "stop-listener" || s.kind === "start-listener" ? `${s.kind} ${s.spec.device}` : s.kind,
    ),
    ["stop-listener cam", "apply-snat", "start-listener cam"],
  );
});

test("several devices: disabling one removes only its listeners and rule", () => {
  const leases = [lease("02:00:00:00:01:00", "192.168.1.100"), lease("02:00:00:00:02:00", "192.168.1.101")];
  const facts = healthyFacts({ leases }, three);
  const p = plan({ ...facts, choices: { printer: { enabled: false, ports: undefined } } }, three);
  assert.deepEqual(
    p.desired.listeners.map((l) => l.device),
    ["cam", "plc"],
  );
  assert.deepEqual(
    p.desired.snat.map((r) => r.device),
    ["cam", "plc"],
  );
  assert.deepEqual(
    devicePhases(p).map((d) => d.phase),
    ["serving", "disabled", "serving"],
  );
});

test("phase: a device's failed steps degrade it, naming them, before converging; disabled and waiting come first", () => {
  const p = plan(healthyFacts(), config);
  const base = { plan: only(p), converging: true, listeners: [], probeFailure: undefined };
  const bind = "socat for :80 exited: bind(5, {AF=10 [2001:db8:1::1]:80}, 28): Address already in use";
  assert.deepEqual(devicePhaseOf(base), { name: "device", phase: "converging" });
  assert.deepEqual(devicePhaseOf({ ...base, failures: [] }), { name: "device", phase: "converging" });
  assert.deepEqual(devicePhaseOf({ ...base, failures: [bind, "listener :81 failed"] }), {
    name: "device",
    phase: "degraded",
    reason: `${bind}; listener :81 failed`,
  });
  assert.equal(
    devicePhaseOf({ ...base, plan: { ...only(p), enabled: false }, failures: [bind] }).phase,
    "disabled",
  );
  assert.equal(
    devicePhaseOf({ ...base, plan: { ...only(p), waitingFor: "device" }, failures: [bind] }).phase,
    "waiting",
  );
});
