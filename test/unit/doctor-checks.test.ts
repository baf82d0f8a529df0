// Verdict logic of every doctor check, on hand-built observations: what each broken hop looks like, and that the
// healthy gateway passes.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { initialFacts, reduce } from "../../src/core/facts.js";
import { plan as makePlan } from "../../src/core/plan.js";
import type { LeaseFileReport } from "../../src/core/leases.js";
import type { Config, DevicePlan, Lease, State } from "../../src/core/types.js";
import { runChecks } from "../../src/doctor/checks/index.js";
import type {
  AgentView,
  DeviceView,
  DnsNameView,
  DoctorContext,
  ProbeView,
} from "../../src/doctor/context.js";
import { formatReport } from "../../src/doctor/format.js";
import type { AddressDetail, LinkDetail } from "../../src/sources/ip-addr.js";
import type { NftChain } from "../../src/doctor/parse/nft-ruleset.js";
import { nftFixture } from "./nft-fixtures.js";
import type { Route } from "../../src/doctor/parse/route.js";
import { parseSsListening } from "../../src/doctor/parse/ss.js";
import { readingError, readingOk, summarize, type Check } from "../../src/doctor/types.js";
import { sampleStatus } from "../fakes/control.js";
import { lease, makeConfig } from "./fixtures.js";

const MAC = "02:00:00:00:01:00";
const WAN = "2001:db8:1::1";
const DEVICE = "192.168.1.100";

function address(a: string, extra: Partial<AddressDetail> = {}): AddressDetail {
  const v6 = a.includes(":");
  return {
    family: v6 ? "inet6" : "inet",
    address: a,
    prefixlen: v6 ? 64 : 24,
    scope: a.startsWith("fe80") ? "link" : "global",
    tentative: false,
    deprecated: false,
    temporary: false,
    dadfailed: false,
    validLft: undefined,
    preferredLft: undefined,
    ...extra,
  };
}

function link(name: string, addresses: AddressDetail[], over: Partial<LinkDetail> = {}): LinkDetail {
  return { name, flags: ["UP", "LOWER_UP"], adminUp: true, carrier: true, addresses, ...over };
}

const healthyLinks = () => [
  link("wan0", [address(WAN), address("fe80::1")]),
  link("lan0", [address("192.168.1.1")]),
];

const ok = (ms = 3): ProbeView => ({ ok: true, ms, error: null });
const bad = (error: string): ProbeView => ({ ok: false, ms: 2000, error });

const SS_HEALTHY = [
  `LISTEN 0 32 [${WAN}]:80 [::]:* users:(("socat",pid=1001,fd=5))`,
  `LISTEN 0 32 [${WAN}]:2323 [::]:* users:(("socat",pid=1002,fd=5))`,
].join("\n");

const runningAgent = (over: Parameters<typeof sampleStatus>[0] = {}): AgentView => ({
  pid: 4242,
  status: sampleStatus({ wan: { interface: "wan0", address: WAN }, ...over }),
  mqtt: undefined,
});

interface Scenario {
  config?: Config;
  links?: LinkDetail[];
  leases?: Lease[];
  /** How the lease files read; default: /tmp/dhcp.leases, dnsmasq, with the scenario's leases. */
  leaseFiles?: LeaseFileReport[];
  agent?: AgentView;
  ss?: string;
  /** The nft ruleset's chains (nftFixture); none by default. */
  nft?: NftChain[];
  routes?: Route[];
  routeToDevice?: Route;
  /** The first device's observations (and whether the operator disabled it). */
  device?: Partial<Omit<DeviceView, "plan">> & { enabled?: boolean };
  /** The observations of every device after the first; default: nothing observed. */
  others?: (plan: DevicePlan) => DeviceView;
  /** Anything else, applied last. */
  over?: Partial<DoctorContext>;
}

/** A healthy gateway unless the scenario says otherwise; facts and plan come from the core as the agent's would. */
function context(s: Scenario = {}): DoctorContext {
  const config = s.config ?? makeConfig({ device: { mac: MAC, leases: "/tmp/dhcp.leases" } });
  const links = s.links ?? healthyLinks();
  let state: State = { config, facts: initialFacts };
  state = reduce(state, {
    type: "links",
    links: links.map((l) => ({ name: l.name, up: l.adminUp && l.carrier, addresses: l.addresses })),
  });
  const leases = s.leases ?? [lease(MAC, DEVICE)];
  const files = s.leaseFiles ?? [
    { file: "/tmp/dhcp.leases", format: "dnsmasq", leases: leases.length, badLines: 0 },
  ];
  state = reduce(state, { type: "leases", leases, files });
  const plan = makePlan(state.facts, config);
  const [first, ...others] = plan.devices;
  if (first === undefined) throw new Error("no device");
  const { enabled, ...observed } = s.device ?? {};
  const firstView: DeviceView = {
    plan: enabled === undefined ? first : { ...first, enabled },
    ourPids: new Map([
      [80, [1001]],
      [2323, [1002]],
    ]),
    routeToDevice: readingOk(
      s.routeToDevice ?? { dst: DEVICE, dev: "lan0", gateway: undefined, prefsrc: "192.168.1.1" },
    ),
    deviceProbes: new Map([
      [80, ok()],
      [23, ok()],
    ]),
    endToEnd: new Map([
      [80, ok(501)],
      [2323, ok(501)],
    ]),
    unansweredTargets: new Set(),
    ...observed,
  };
  return {
    config,
    tools: { faults: [], backend: "nft" },
    links: readingOk(links),
    facts: state.facts,
    plan,
    agent: s.agent ?? runningAgent(),
    sockets: readingOk(parseSsListening(s.ss ?? SS_HEALTHY)),
    nft: readingOk(s.nft ?? []),
    ip6tablesLegacyRules: readingOk(0),
    routes: readingOk(
      s.routes ?? [{ dst: "192.168.1.0/24", dev: "lan0", gateway: undefined, prefsrc: "192.168.1.1" }],
    ),
    rpFilter: 0,
    snat: readingOk({
      backend: "nft",
      matches: true,
      present: true,
      found: [`oifname "lan0" ip daddr ${DEVICE} tcp dport { 23, 80 } snat to 192.168.1.1`],
    }),
    devices: [firstView, ...others.map((dp) => (s.others ?? unobserved)(dp))],
    settleMs: 500,
    dns: [],
    ...s.over,
  };
}

/** A device nothing was observed of. */
const unobserved = (plan: DevicePlan): DeviceView => ({
  plan,
  ourPids: new Map(),
  routeToDevice: undefined,
  deviceProbes: new Map(),
  endToEnd: new Map(),
  unansweredTargets: new Set(),
});

function check(ctx: DoctorContext, id: string): Check {
  const found = runChecks(ctx).find((c) => c.id === id);
  assert.ok(found, `no check ${id}`);
  return found;
}

const statuses = (ctx: DoctorContext) => Object.fromEntries(runChecks(ctx).map((c) => [c.id, c.status]));

describe("doctor checks", () => {
  test("a healthy gateway: every hop ok, in path order; MQTT skipped when the agent does not report it", () => {
    const checks = runChecks(context());
    assert.deepEqual(
      checks.map((c) => `${c.id} ${c.status}`),
      [
        "tools ok",
        "wan-link ok",
        "wan-address ok",
        "listener:80 ok",
        "listener:2323 ok",
        "host-firewall ok",
        "lan-link ok",
        "lan-route ok",
        "lease-files ok",
        "device ok",
        "device-port:23 ok",
        "device-port:80 ok",
        "snat ok",
        "end-to-end:80 ok",
        "end-to-end:2323 ok",
        "agent ok",
        "mqtt skip",
      ],
    );
    const report = summarize(checks);
    assert.deepEqual([report.verdict, report.firstFailure], ["ok", null]);
    assert.match(check(context(), "listener:80").detail, /by our socat \(pid 1001\)/);
    assert.match(
      check(context(), "wan-address").detail,
      /using 2001:db8:1::1\/64 .*passed over: fe80::1 \(link-local\)/,
    );
    assert.match(check(context(), "device").detail, /from the DHCP lease of 02:00:00:00:01:00/);
  });

  describe("WAN link", () => {
    test("cable pulled: no carrier", () => {
      const links = healthyLinks().map((l) => (l.name === "wan0" ? { ...l, carrier: false } : l));
      const c = check(context({ links }), "wan-link");
      assert.equal(c.status, "fail");
      assert.match(c.detail, /no carrier/);
      assert.match(c.fix ?? "", /cable/);
    });
    test("administratively down, or missing", () => {
      const down = healthyLinks().map((l) => (l.name === "wan0" ? { ...l, adminUp: false } : l));
      assert.match(check(context({ links: down }), "wan-link").fix ?? "", /ip link set wan0 up/);
      const missing = healthyLinks().filter((l) => l.name !== "wan0");
      const ctx = context({ links: missing });
      assert.match(check(ctx, "wan-link").detail, /no interface named wan0 \(present: lan0\)/);
      assert.equal(check(ctx, "wan-address").status, "skip");
    });
    test("interfaces unreadable", () => {
      const c = check(context({ over: { links: readingError("ip: not found") } }), "wan-link");
      assert.deepEqual([c.status, c.detail], ["fail", "cannot read the interfaces: ip: not found"]);
    });
  });

  describe("WAN address", () => {
    const withWan = (addresses: AddressDetail[], over: Partial<LinkDetail> = {}) =>
      healthyLinks().map((l) => (l.name === "wan0" ? { ...l, ...over, addresses } : l));

    test("only a tentative address: fails, names it and why, says to wait", () => {
      const ctx = context({
        links: withWan([address("2001:db8:1::20", { tentative: true }), address("fe80::1")]),
        ss: "",
      });
      const c = check(ctx, "wan-address");
      assert.equal(c.status, "fail");
      assert.match(c.detail, /2001:db8:1::20 \(tentative: duplicate address detection is still running\)/);
      assert.match(c.fix ?? "", /wait a few seconds/);
      assert.equal(check(ctx, "listener:80").status, "skip");
      assert.equal(check(ctx, "end-to-end:80").status, "skip");
    });
    test("tentative without carrier: fix the link first", () => {
      const links = withWan([address("2001:db8:1::20", { tentative: true })], { carrier: false });
      assert.match(check(context({ links }), "wan-address").fix ?? "", /without a carrier/);
    });
    test("every kind of rejection is named", () => {
      const links = withWan([
        address("2001:db8:1::2", { dadfailed: true, tentative: true }),
        address("2001:db8:1::3", { tentative: true }),
        address("2001:db8:1::4", { temporary: true }),
      ]);
      const c = check(context({ links }), "wan-address");
      assert.match(c.detail, /::2 \(duplicate address detection failed/);
      assert.match(c.detail, /::3 \(tentative/);
      assert.match(c.detail, /::4 \(temporary privacy address/);
      assert.match(c.fix ?? "", /wait/, "a tentative address is the likeliest to settle");
    });
    test("a literal deprecated on purpose (a service address, valid forever) is used; the upstream is not blamed", () => {
      const config = makeConfig({ wan: { interface: "wan0", address: "2001:db8:1::53" } });
      const links = withWan([address(WAN), address("2001:db8:1::53", { deprecated: true, preferredLft: 0 })]);
      const agent = runningAgent({ wan: { interface: "wan0", address: "2001:db8:1::53" } });
      const c = check(context({ config, links, agent }), "wan-address");
      assert.equal(c.status, "ok");
      assert.match(c.detail, /using 2001:db8:1::53\/64 .*deprecated on purpose/);
      assert.doesNotMatch(`${c.detail} ${c.fix ?? ""}`, /upstream|withdraw/);
    });
    test("auto on the last, deprecated address of a prefix being withdrawn: served, with a warning", () => {
      const links = withWan([address(WAN, { deprecated: true, preferredLft: 0, validLft: 600 })]);
      const c = check(context({ links }), "wan-address");
      assert.equal(c.status, "warn");
      assert.match(c.detail, /deprecated, and valid for 600 s more/);
      assert.match(c.fix ?? "", /withdrawing the prefix/);
    });
    test("a global address beside the ULA the agent holds: the global one, and the agent is told to follow", () => {
      const links = withWan([address(WAN), address("fd00:db8:1::1")]);
      const agent = runningAgent({ wan: { interface: "wan0", address: "fd00:db8:1::1" } });
      const c = check(context({ links, agent }), "wan-address");
      assert.equal(c.status, "warn");
      assert.match(
        c.detail,
        /serves on fd00:db8:1::1, but the address to use now is 2001:db8:1::1\/64 .*ranked lower: fd00:db8:1::1 \(unique-local\)/,
      );
    });
    test("no IPv6 at all, and a configured address that is missing", () => {
      assert.match(check(context({ links: withWan([]) }), "wan-address").detail, /no IPv6 address at all/);
      const config = makeConfig({ wan: { interface: "wan0", address: "2001:db8:1::99" } });
      const c = check(context({ config }), "wan-address");
      assert.match(c.detail, /configured address 2001:db8:1::99 is not on wan0/);
    });
    test("the agent still serves on an address that is no longer usable: warn", () => {
      const agent = runningAgent({ wan: { interface: "wan0", address: "2001:db8:1::9" } });
      assert.equal(check(context({ agent }), "wan-address").status, "warn");
    });
  });

  describe("WAN address on a prefix-delegation-only uplink", () => {
    // The uplink has only a link-local address; the delegated prefix's address lives on the LAN side.
    const PD = "2001:db8:1:100::1";
    const links = [
      link("wan0", [address("fe80::2")]),
      link("lan0", [address("192.168.1.1"), address(PD), address("fe80::1")]),
    ];
    const pdConfig = (over: Record<string, unknown> = {}) =>
      makeConfig({ wan: { interface: "wan0", ...over }, device: { mac: MAC, leases: "/tmp/dhcp.leases" } });
    const ss = SS_HEALTHY.replaceAll(WAN, PD);

    test("without wan.addressFrom: recognised, and the advice is the setting, not adding the address to the WAN", () => {
      const c = check(
        context({
          config: pdConfig(),
          links,
          agent: runningAgent({ wan: { interface: "wan0", address: null } }),
        }),
        "wan-address",
      );
      assert.equal(c.status, "fail");
      assert.match(
        c.detail,
        /wan0 has no global IPv6 address \(only link-local fe80::2\), but lan0 holds 2001:db8:1:100::1/,
      );
      assert.match(c.fix ?? "", /set wan\.addressFrom: lan0/);
      assert.doesNotMatch(c.fix ?? "", /add .* to wan0/);
    });
    test("a literal that lives on the LAN side: the same advice", () => {
      const c = check(context({ config: pdConfig({ address: PD }), links }), "wan-address");
      assert.equal(c.status, "fail");
      assert.match(c.detail, /configured address 2001:db8:1:100::1 is on lan0, not on wan0/);
      assert.match(c.fix ?? "", /set wan\.addressFrom: lan0/);
    });
    test("with wan.addressFrom: lan0 the address is used and every hop passes", () => {
      const agent = runningAgent({ wan: { interface: "wan0", address: PD } });
      const ctx = context({ config: pdConfig({ addressFrom: "lan0" }), links, agent, ss });
      const c = check(ctx, "wan-address");
      assert.equal(c.status, "ok");
      assert.match(
        c.detail,
        /using 2001:db8:1:100::1\/64 .* on lan0 \(wan\.addressFrom; clients arrive on wan0\)/,
      );
      assert.deepEqual(
        Object.entries(statuses(ctx)).filter(([, v]) => v !== "ok" && v !== "skip"),
        [],
      );
    });
    test("wan.addressFrom names an interface that is not there: fail, naming the setting", () => {
      const c = check(context({ config: pdConfig({ addressFrom: "br-lan" }), links }), "wan-address");
      assert.equal(c.status, "fail");
      assert.match(c.detail, /no interface br-lan \(wan\.addressFrom\)/);
    });
  });

  describe("listeners", () => {
    test("a foreign program holds [wan]:80: fail, naming it", () => {
      const ss = SS_HEALTHY.replace('("socat",pid=1001,fd=5)', '("busybox",pid=77,fd=3)');
      const c = check(context({ ss }), "listener:80");
      assert.equal(c.status, "fail");
      assert.match(c.detail, /\[2001:db8:1::1\]:80 is held by busybox \(pid 77\), not by sixgate/);
      assert.match(c.fix ?? "", /LAN address/);
      // What answers end to end is that program, not the device.
      const e2e = check(context({ ss }), "end-to-end:80");
      assert.equal(e2e.status, "fail");
      assert.match(e2e.detail, /answered, but it is held by busybox \(pid 77\), not by sixgate/);
    });
    test("a wildcard holder blocks too; an IPv4-only one does not", () => {
      const wildcard = `${SS_HEALTHY.split("\n")[1] ?? ""}\nLISTEN 0 5 *:80 *:* users:(("uhttpd",pid=5,fd=3))`;
      assert.match(check(context({ ss: wildcard }), "listener:80").detail, /\*:80 is held by uhttpd/);
      const v4 = `${SS_HEALTHY}\nLISTEN 0 5 0.0.0.0:80 0.0.0.0:* users:(("uhttpd",pid=5,fd=3))`;
      const c = check(context({ ss: v4 }), "listener:80");
      assert.equal(c.status, "ok");
      assert.match(c.detail, /no conflict: uhttpd \(pid 5\) on 0\.0\.0\.0:80/);
    });
    test("a holder ss cannot name: warn", () => {
      const ss = SS_HEALTHY.replace(' users:(("socat",pid=1001,fd=5))', "");
      assert.equal(check(context({ ss }), "listener:80").status, "warn");
    });
    test("nothing listens: the fix depends on the agent", () => {
      const ss = SS_HEALTHY.split("\n")[1] ?? "";
      const none = check(
        context({ ss, agent: { pid: undefined, status: undefined, mqtt: undefined } }),
        "listener:80",
      );
      assert.deepEqual(
        [none.status, none.fix],
        ["fail", "start the agent (systemctl start sixgate, or /etc/init.d/sixgate start)"],
      );
      const agent = runningAgent({
        listeners: [
          {
            device: "device",
            listen: 80,
            target: 80,
            state: "restarting",
            pid: null,
            restarts: 3,
            lastError: "Address already in use",
            connections: 0,
            maxChildren: 64,
            connectionErrors: 0,
          },
        ],
      });
      assert.match(
        check(context({ ss, agent }), "listener:80").detail,
        /reports it restarting: Address already in use/,
      );
      const waiting = runningAgent({ phase: "waiting", waitingFor: "device", reason: "no lease" });
      assert.equal(check(context({ ss, agent: waiting }), "listener:80").fix, "see the Device address check");
      assert.equal(check(context({ ss, agent: waiting }), "agent").fix, "see the Device address check");
    });
    test("our socat on the old address: fail; left by a dead agent: warn", () => {
      const old = SS_HEALTHY.replace(`[${WAN}]:80`, "[2001:db8:1::9]:80");
      assert.match(
        check(context({ ss: old }), "listener:80").detail,
        /listens on \[2001:db8:1::9\]:80, not on/,
      );
      const orphan = check(
        context({ agent: { pid: undefined, status: undefined, mqtt: undefined } }),
        "listener:80",
      );
      assert.equal(orphan.status, "warn");
      assert.match(orphan.detail, /left by an agent that no longer runs/);
    });
    test("disabled proxy, unreadable sockets", () => {
      const disabled = context({ device: { enabled: false } });
      assert.equal(check(disabled, "listener:80").status, "skip");
      assert.equal(check(disabled, "end-to-end:80").status, "skip");
      assert.equal(
        check(context({ over: { sockets: readingError("ss: not found") } }), "listener:80").status,
        "warn",
      );
    });
  });

  describe("host firewall", () => {
    // fixtures/nft/walks.nft: policy drop, "tcp dport 2323 accept" (host_drop) or "tcp dport @open accept" (host_set).
    const dropAll = nftFixture("walks", "host_drop");
    test("policy drop without an accept for a port: fail, naming the port and the fix", () => {
      const c = check(context({ nft: dropAll }), "host-firewall");
      assert.equal(c.status, "fail");
      assert.match(c.detail, /tcp\/80: dropped by the policy of inet host_drop input/);
      assert.match(c.detail, /tcp\/2323: accepted by "tcp dport 2323 accept"/);
      assert.match(c.fix ?? "", /nft add rule inet filter input iifname "wan0" tcp dport 80 accept/);
    });
    test("cannot tell: warn", () => {
      const unknown = nftFixture("walks", "host_set");
      assert.equal(check(context({ nft: unknown }), "host-firewall").status, "warn");
      assert.equal(
        check(context({ over: { nft: readingError("nft: not found") } }), "host-firewall").status,
        "warn",
      );
    });
  });

  describe("host firewall with ip6tables-legacy", () => {
    test("legacy filter rules that nft cannot see: unknown, naming ip6tables-legacy (not accepted)", () => {
      assert.equal(check(context(), "host-firewall").status, "ok", "no nft input chain, no legacy rules");
      const c = check(context({ over: { ip6tablesLegacyRules: readingOk(3) } }), "host-firewall");
      assert.equal(c.status, "warn");
      assert.match(
        c.detail,
        /tcp\/80, 2323: unknown, ip6tables-legacy holds 3 filter rule\(s\) that nft cannot see/,
      );
      assert.match(c.fix ?? "", /ip6tables-legacy -S INPUT/);
    });
  });

  describe("LAN", () => {
    test("LAN link without carrier", () => {
      const links = healthyLinks().map((l) => (l.name === "lan0" ? { ...l, carrier: false } : l));
      assert.match(check(context({ links }), "lan-link").fix ?? "", /cable to the device/);
    });
    test("no LAN address", () => {
      const links = healthyLinks().map((l) => (l.name === "lan0" ? { ...l, addresses: [] } : l));
      const c = check(context({ links }), "lan-route");
      assert.deepEqual([c.status, c.detail], ["fail", "lan0 has no IPv4 address"]);
    });
    test("the device outside the LAN subnet", () => {
      const ctx = context({ leases: [lease(MAC, "10.1.2.3")] });
      assert.match(check(ctx, "lan-route").detail, /10\.1\.2\.3 is outside lan0's subnet 192\.168\.1\.0\/24/);
    });
    const upstream: Route = {
      dst: "192.168.1.0/24",
      dev: "wan0",
      gateway: undefined,
      prefsrc: "192.168.1.50",
    };
    const lanRoute: Route = {
      dst: "192.168.1.0/24",
      dev: "lan0",
      gateway: undefined,
      prefsrc: "192.168.1.1",
    };
    test("the WAN also routes the LAN subnet, the LAN route still wins: warn, naming so-bindtodevice", () => {
      const c = check(context({ routes: [lanRoute, upstream] }), "lan-route");
      assert.equal(c.status, "warn");
      assert.match(c.detail, /wan0 also routes 192\.168\.1\.0\/24/);
      assert.match(c.detail, /so-bindtodevice=lan0/);
      assert.match(c.fix ?? "", /renumber/);
    });
    test("the route to the device leaves through the WAN: warn, or fail under strict rp_filter", () => {
      const via = { dst: DEVICE, dev: "wan0", gateway: undefined, prefsrc: "192.168.1.50" };
      const ctx = context({ routes: [upstream, lanRoute], routeToDevice: via });
      const c = check(ctx, "lan-route");
      assert.equal(c.status, "warn");
      assert.match(c.detail, /the route to the device 192\.168\.1\.100 leaves through wan0/);
      const strict = check({ ...ctx, rpFilter: 1 }, "lan-route");
      assert.equal(strict.status, "fail");
      assert.match(strict.fix ?? "", /rp_filter=2/);
      // The device probe is pinned to lan0 like socat, so its failure is the device's (or the reply path's), whatever
      // the routing table says.
      const probe = check(
        context({
          routes: [upstream, lanRoute],
          routeToDevice: via,
          device: {
            deviceProbes: new Map([
              [80, bad("timed out after 2000 ms")],
              [23, ok()],
            ]),
          },
        }),
        "device-port:80",
      );
      assert.equal(probe.status, "fail");
      assert.match(probe.detail, /from 192\.168\.1\.1 on lan0: no answer/);
    });
  });

  describe("device", () => {
    test("unknown: fail with the reason; several leases: set device.mac", () => {
      const none = check(context({ leases: [] }), "device");
      assert.equal(none.status, "fail");
      assert.match(none.detail, /no DHCP lease or neighbour entry for 02:00:00:00:01:00/);
      const config = makeConfig({ device: { leases: "/tmp/dhcp.leases" } });
      const two = check(
        context({ config, leases: [lease(MAC, DEVICE), lease("02:00:00:00:01:01", "192.168.1.101")] }),
        "device",
      );
      assert.equal(two.fix, "set device.mac in the config to the device's MAC address");
      assert.equal(check(context({ leases: [] }), "device-port:80").status, "skip");
      assert.equal(check(context({ leases: [] }), "snat").status, "skip");
    });
    test("from the config, and the single lease", () => {
      const fromConfig = makeConfig({ device: { address: "192.168.1.7", leases: "/tmp/dhcp.leases" } });
      assert.match(
        check(
          context({ config: fromConfig, agent: { pid: undefined, status: undefined, mqtt: undefined } }),
          "device",
        ).detail,
        /192\.168\.1\.7, from device\.address/,
      );
      const single = makeConfig({ device: { leases: "/tmp/dhcp.leases" } });
      assert.match(
        check(context({ config: single }), "device").detail,
        /the only DHCP lease in \/tmp\/dhcp\.leases/,
      );
    });
    test("lease files: each file's format and count; an unknown format fails, naming the file", () => {
      assert.equal(check(context(), "lease-files").detail, "lease file /tmp/dhcp.leases: dnsmasq, 1 lease");
      const leaseFiles: LeaseFileReport[] = [
        { file: "/tmp/dhcp.leases", format: "empty", leases: 0, badLines: 0 },
        { file: "/tmp/hosts/odhcpd", format: "odhcpd", leases: 1, badLines: 0 },
        { file: "/tmp/kea.csv", format: "unknown", leases: 0, badLines: 3 },
      ];
      const mixed = check(context({ leaseFiles }), "lease-files");
      assert.equal(mixed.status, "fail");
      assert.equal(
        mixed.detail,
        "lease file /tmp/dhcp.leases: empty (no lease); lease file /tmp/hosts/odhcpd: odhcpd, 1 lease; " +
          "lease file /tmp/kea.csv: unrecognised format (neither dnsmasq nor odhcpd)",
      );
      // The device is then unknown because of the file, not "off".
      const onlyUnknown = context({ leases: [], leaseFiles: leaseFiles.slice(2) });
      const device = check(onlyUnknown, "device");
      assert.match(device.detail, /lease file \/tmp\/kea\.csv: unrecognised format/);
      assert.doesNotMatch(device.detail, /no DHCP lease/);
      assert.match(device.fix ?? "", /lease-files check/);
      const missing = check(
        context({ leaseFiles: [{ file: "/tmp/dhcp.leases", format: "missing", leases: 0, badLines: 0 }] }),
        "lease-files",
      );
      assert.equal(missing.status, "warn");
    });
    test("the agent proxies to another address: warn", () => {
      const status = sampleStatus();
      const devices = status.devices.map((d) => ({ ...d, address: "192.168.1.120" }));
      const agent = runningAgent({ devices });
      const ctx = context({ agent });
      assert.equal(check(ctx, "device").status, "warn");
    });
    test("a closed target port: fail with the mapping; a silent device: fail", () => {
      const refused = context({
        device: {
          deviceProbes: new Map([
            [80, ok()],
            [23, bad("ECONNREFUSED: connect ECONNREFUSED")],
          ]),
        },
      });
      const c = check(refused, "device-port:23");
      assert.equal(c.status, "fail");
      assert.match(c.detail, /refused: nothing listens on 192\.168\.1\.100 port 23/);
      assert.match(c.fix ?? "", /listen 2323 -> target 23/);
      const silent = context({
        device: {
          deviceProbes: new Map([
            [80, bad("timed out after 2000 ms")],
            [23, ok()],
          ]),
        },
      });
      assert.match(check(silent, "device-port:80").fix ?? "", /its own firewall/);
      // socat holds the client while it waits for the device: the end-to-end check must not call that a pass.
      assert.equal(check(silent, "end-to-end:80").status, "warn");
    });
  });

  describe("SNAT", () => {
    test("missing: fail, with the rule we want", () => {
      const ctx = context({
        over: { snat: readingOk({ backend: "nft", matches: false, present: false, found: [] }) },
      });
      const c = check(ctx, "snat");
      assert.equal(c.status, "fail");
      assert.match(
        c.detail,
        /table ip sixgate is missing; want: oifname "lan0" ip saddr 192\.168\.1\.1 ip daddr 192\.168\.1\.100 tcp dport \{ 23, 80 \} snat to 192\.168\.1\.1/,
      );
      assert.match(c.fix ?? "", /restart it/);
    });
    test("different, on iptables", () => {
      const found = [
        "-A SIXGATE-POSTROUTING -o lan0 -d 192.168.1.99/32 -p tcp -m multiport --dports 80 -j SNAT --to-source 192.168.1.1",
      ];
      const ctx = context({
        over: { snat: readingOk({ backend: "iptables", matches: false, present: true, found }) },
      });
      const c = check(ctx, "snat");
      assert.match(
        c.detail,
        /chain SIXGATE-POSTROUTING \(nat\) differs from the plan: -A SIXGATE-POSTROUTING .*192\.168\.1\.99/,
      );
      assert.match(
        c.detail,
        /want: -A SIXGATE-POSTROUTING -s 192\.168\.1\.1\/32 -d 192\.168\.1\.100\/32 -o lan0/,
      );
    });
    test("unreadable: warn", () => {
      assert.equal(
        check(context({ over: { snat: readingError("nft: permission denied") } }), "snat").status,
        "warn",
      );
    });
  });

  describe("end to end", () => {
    test("closed right after connect: the listener could not reach the device", () => {
      const ctx = context({
        device: {
          endToEnd: new Map([
            [80, ok()],
            [2323, bad("connection closed by the far end right after connect")],
          ]),
        },
      });
      const c = check(ctx, "end-to-end:2323");
      assert.equal(c.status, "fail");
      assert.match(
        c.detail,
        /closed at once by the far end: the listener could not reach 192\.168\.1\.100:23/,
      );
    });
    test("accepted, but the listener's SYN to the device is unanswered: fail, even though the client was held", () => {
      const c = check(context({ device: { unansweredTargets: new Set([80]) } }), "end-to-end:80");
      assert.equal(c.status, "fail");
      assert.match(
        c.detail,
        /connection to 192\.168\.1\.100:80 got no answer \(SYN sent from 192\.168\.1\.1 on lan0/,
      );
      assert.match(c.fix ?? "", /reverse-path filtering/);
      assert.equal(
        check(context({ device: { unansweredTargets: new Set([80]) } }), "end-to-end:2323").status,
        "ok",
      );
    });
    test("refused: points at the listener", () => {
      const ctx = context({
        device: {
          endToEnd: new Map([
            [80, bad("ECONNREFUSED: x")],
            [2323, ok()],
          ]),
        },
      });
      assert.equal(check(ctx, "end-to-end:80").fix, "see Listener :80 above");
    });
  });

  describe("agent and MQTT", () => {
    test("no agent: fail with how to start it", () => {
      const c = check(context({ agent: { pid: undefined, status: undefined, mqtt: undefined } }), "agent");
      assert.equal(c.status, "fail");
      assert.match(c.fix ?? "", /systemctl start sixgate/);
      assert.equal(
        check(context({ agent: { pid: undefined, status: undefined, mqtt: undefined } }), "mqtt").status,
        "skip",
      );
    });
    test("phases", () => {
      const phase = (over: Parameters<typeof sampleStatus>[0]) =>
        check(context({ agent: runningAgent(over) }), "agent");
      assert.equal(phase({ phase: "waiting", waitingFor: "wan-address", reason: "x" }).status, "fail");
      assert.match(
        phase({ phase: "waiting", waitingFor: "wan-address", reason: "x" }).detail,
        /waiting for wan-address: x/,
      );
      assert.equal(phase({ phase: "degraded", reason: "nft failed" }).status, "fail");
      assert.equal(phase({ phase: "converging" }).status, "warn");
      assert.equal(phase({ phase: "disabled" }).status, "warn");
      assert.equal(
        check(context({ agent: { pid: 9, status: undefined, mqtt: undefined } }), "agent").status,
        "warn",
      );
    });
    test("MQTT as the agent reports it", () => {
      const mqtt = (m: AgentView["mqtt"]) =>
        check(context({ agent: { ...runningAgent(), mqtt: m } }), "mqtt");
      assert.deepEqual([mqtt(null).status, mqtt(null).detail], ["skip", "MQTT is not configured"]);
      assert.equal(
        mqtt({ connected: true, broker: "mqtt://broker:1883" }).detail,
        "connected to mqtt://broker:1883",
      );
      const down = mqtt({ connected: false, broker: "mqtt://broker:1883" });
      assert.equal(down.status, "warn");
      assert.match(down.detail, /not connected to mqtt:\/\/broker:1883/);
      assert.match(mqtt({ connected: false, broker: undefined }).detail, /not connected to the broker/);
    });
  });
});

describe("doctor report", () => {
  test("verdict: any failure fails, warnings alone do not; the first failure in path order", () => {
    const c = (id: string, status: Check["status"]): Check => ({ id, title: id, status, detail: "" });
    assert.equal(summarize([c("a", "ok"), c("b", "warn"), c("c", "skip")]).verdict, "warn");
    const failed = summarize([c("a", "ok"), c("b", "fail"), c("c", "warn"), c("d", "fail")]);
    assert.deepEqual(
      [failed.verdict, failed.firstFailure, failed.counts],
      ["fail", "b", { ok: 1, warn: 1, fail: 2, skip: 0 }],
    );
  });

  test("text: a line per check, the fix under failures and warnings, the verdict last", () => {
    const ctx = context({ leases: [] });
    const text = formatReport(summarize(runChecks(ctx)), ctx.config);
    const lines = text.split("\n");
    assert.equal(lines[0], "sixgate doctor: wan0 -> lan0, ports 80->80, 2323->23");
    assert.match(text, /^ok {4}WAN link wan0 +wan0 is up with carrier$/m);
    assert.match(text, /^FAIL {2}Device address +device address unknown/m);
    assert.match(text, /^ +fix: check the device is powered/m);
    assert.match(lines.at(-1) ?? "", /^verdict: FAIL: \d+ failed, .* start with: Device address$/);
    assert.ok(statuses(ctx).device === "fail");
  });
});

describe("several devices", () => {
  const PLC_MAC = "02:00:00:00:02:00";
  const PLC = "192.168.1.101";
  const twoDevices = makeConfig({
    device: undefined,
    ports: undefined,
    leases: ["/tmp/dhcp.leases"],
    devices: [
      {
        name: "cam",
        mac: MAC,
        ports: [
          { listen: 80, target: 80 },
          { listen: 2323, target: 23 },
        ],
      },
      { name: "plc", mac: PLC_MAC, ports: [{ listen: 8080, target: 502 }] },
    ],
  });

  test("each device is checked under its name: the healthy one passes, the unknown one fails naming it", () => {
    const ctx = context({ config: twoDevices });
    const checks = runChecks(ctx);
    assert.deepEqual(
      checks.map((c) => `${c.id} ${c.status}`),
      [
        "tools ok",
        "wan-link ok",
        "wan-address ok",
        "cam/listener:80 ok",
        "cam/listener:2323 ok",
        "plc/listener:8080 fail",
        "host-firewall ok",
        "lan-link ok",
        "cam/lan-route ok",
        "plc/lan-route ok",
        "lease-files ok",
        "cam/device ok",
        "cam/device-port:23 ok",
        "cam/device-port:80 ok",
        "plc/device fail",
        "plc/device-port:502 skip",
        "snat ok",
        "cam/end-to-end:80 ok",
        "cam/end-to-end:2323 ok",
        "plc/end-to-end:8080 skip",
        "agent ok",
        "mqtt skip",
      ],
    );
    const plc = check(ctx, "plc/device");
    assert.equal(plc.title, "plc: device address");
    assert.match(plc.detail, /device address unknown/);
    assert.match(plc.fix ?? "", /or set devices\[1\]\.address to its static address/);
    assert.equal(check(ctx, "cam/device-port:80").title, "cam: device port 80");
    assert.equal(check(ctx, "cam/lan-route").title, "cam: LAN subnet and route");
    // The agent serves cam and waits for plc's address: plc's missing listener points at plc's own check.
    const waiting = context({
      config: twoDevices,
      agent: runningAgent({
        phase: "degraded",
        devices: sampleStatus().devices.flatMap((d) => [
          { ...d, name: "cam" },
          { ...d, name: "plc", phase: "waiting" as const, waitingFor: "device" as const, address: null },
        ]),
      }),
    });
    assert.equal(check(waiting, "plc/listener:8080").fix, "see the plc: device address check");
    const text = formatReport(summarize(checks), ctx.config);
    assert.match(text, /^FAIL {2}plc: device address +device address unknown/m);
    assert.match(text, /^ok {4}cam: device address +192\.168\.1\.100, from the DHCP lease/m);
  });

  test("SNAT: the device whose rule is missing is named", () => {
    const leases = [lease(MAC, DEVICE), lease(PLC_MAC, PLC)];
    const found = [
      `oifname "lan0" ip saddr 192.168.1.1 ip daddr ${DEVICE} tcp dport { 23, 80 } snat to 192.168.1.1`,
    ];
    const ctx = context({
      config: twoDevices,
      leases,
      over: { snat: readingOk({ backend: "nft", matches: false, present: true, found }) },
    });
    const c = check(ctx, "snat");
    assert.equal(c.status, "fail");
    assert.match(c.detail, /no rule for plc \(192\.168\.1\.101\)/);
    assert.doesNotMatch(c.detail, /no rule for cam/);
  });
});

describe("DNS names", () => {
  const name = "cam.example.test";
  const record = (over: Partial<DnsNameView>): DnsNameView => ({
    name,
    expected: "2001:db8::1",
    answer: readingOk(["2001:db8::1"]),
    agent: undefined,
    ...over,
  });
  const dnsCheck = (view: DnsNameView) => check(context({ over: { dns: [view] } }), `dns:${name}`);

  test("none without a dns: section", () => {
    assert.ok(!runChecks(context()).some((c) => c.id.startsWith("dns:")));
  });

  test("ok when the server answers exactly the current address", () => {
    const c = dnsCheck(record({}));
    assert.equal(c.status, "ok");
    assert.equal(c.detail, "answers 2001:db8::1");
  });

  test("an old or extra address, or none, fails naming both and the agent's error", () => {
    const failed = {
      name,
      address: "2001:db8::1",
      state: "failed" as const,
      lastError: "nsupdate failed: update failed: NOTAUTH(BADSIG)",
      updatedAt: null,
      latencyMs: null,
    };
    const old = dnsCheck(record({ answer: readingOk(["2001:db8::9"]), agent: failed }));
    assert.equal(old.status, "fail");
    assert.equal(old.detail, "answers 2001:db8::9, not the current address 2001:db8::1");
    assert.match(old.fix ?? "", /updates fail: .*NOTAUTH\(BADSIG\)/);
    const both = dnsCheck(record({ answer: readingOk(["2001:db8::1", "2001:db8::9"]) }));
    assert.equal(both.status, "fail");
    assert.match(both.fix ?? "", /start it/);
    assert.match(dnsCheck(record({ answer: readingOk([]) })).detail, /^answers no AAAA record/);
  });

  test("no address yet is skipped; a server that does not answer fails saying so", () => {
    assert.equal(dnsCheck(record({ expected: null, answer: undefined })).status, "skip");
    const c = dnsCheck(
      record({ answer: readingError("dig failed: ;; connection timed out; no servers could be reached") }),
    );
    assert.equal(c.status, "fail");
    assert.match(c.detail, /cannot ask the server: dig failed/);
  });
});
