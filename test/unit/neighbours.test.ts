// A device with a static address, found by its MAC in the LAN's neighbour table: the parser of `ip -json neigh`,
// the rule that decides between a neighbour entry and a lease (src/core/device.ts), and the source's triggers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Subject, firstValueFrom, take, toArray } from "rxjs";
import { pino } from "pino";
import { chooseDevice, unknownDevice } from "../../src/core/device.js";
import { initialFacts, reduce } from "../../src/core/facts.js";
import { plan } from "../../src/core/plan.js";
import type {
  Config,
  DeviceChoice,
  DeviceConfig,
  Neighbour,
  NeighbourState,
  State,
} from "../../src/core/types.js";
import type { Runner, Spawned } from "../../src/effects/exec.js";
import { neighbourEvents, parseIpNeighJson } from "../../src/sources/neighbours.js";
import { addr, lease, link, makeConfig } from "./fixtures.js";

const MAC = "02:00:00:00:01:00";
const byMac = makeConfig({ device: { mac: MAC, leases: "/tmp/dhcp.leases" } });
const byMacDevice = {
  name: "device",
  mac: MAC,
  ports: byMac.devices[0]?.ports ?? [],
  ipv6: "shared" as const,
};
/** The one device of a one-device config. */
const only = (c: Config): DeviceConfig => {
  const d = c.devices[0];
  if (d === undefined) throw new Error("no device");
  return d;
};
const unanswered = (address: string, state: "FAILED" | "INCOMPLETE"): Neighbour => ({
  address,
  mac: undefined,
  state: [state],
  confirmedAgoSec: undefined,
});
const neigh = (address: string, state: NeighbourState, confirmedAgoSec?: number): Neighbour => ({
  address,
  mac: MAC,
  state: [state],
  confirmedAgoSec,
});

// Captured from iproute2 6.1 (Debian 12) in a lab namespace: `ip -4 -json neigh show dev lan0` with a device that
// had just pinged the gateway (DELAY), an address nobody answered (INCOMPLETE) and a static entry (PERMANENT).
const CAPTURED =
  '[{"dst":"192.168.1.50","lladdr":"02:00:00:00:01:00","state":["DELAY"]},{"dst":"192.168.1.99","state":["INCOMPLETE"]},' +
  '{"dst":"192.168.1.77","lladdr":"02:00:00:00:0a:0b","state":["PERMANENT"]}]';

test("ip -json neigh: IPv4 entries are kept, MAC lowercased, an unanswered one without; junk is not", () => {
  assert.deepEqual(parseIpNeighJson(CAPTURED), [
    { address: "192.168.1.50", mac: MAC, state: ["DELAY"], confirmedAgoSec: undefined },
    { address: "192.168.1.99", mac: undefined, state: ["INCOMPLETE"], confirmedAgoSec: undefined },
    { address: "192.168.1.77", mac: "02:00:00:00:0a:0b", state: ["PERMANENT"], confirmedAgoSec: undefined },
  ]);
  assert.deepEqual(
    parseIpNeighJson(
      JSON.stringify([
        { dst: "192.168.1.5", lladdr: "02:AA:00:00:00:01", state: ["REACHABLE", "WEIRD"] },
        { dst: "fe80::1", lladdr: "02:00:00:00:00:02", state: ["STALE"] }, // not IPv4
        { dst: "192.168.1.300", lladdr: "02:00:00:00:00:03", state: ["STALE"] }, // not an address
        { dst: "192.168.1.6", lladdr: "00:11", state: ["STALE"] }, // not a MAC
        { dst: "192.168.1.7", lladdr: "02:00:00:00:00:07" }, // no state printed
      ]),
    ),
    [
      { address: "192.168.1.5", mac: "02:aa:00:00:00:01", state: ["REACHABLE"], confirmedAgoSec: undefined },
      { address: "192.168.1.7", mac: "02:00:00:00:00:07", state: [], confirmedAgoSec: undefined },
    ],
  );
  // `ip -s -json neigh`, as the agent runs it (captured the same way, after the device moved from .50 to .51).
  assert.deepEqual(
    parseIpNeighJson(
      '[{"dst":"192.168.1.50","lladdr":"02:00:00:00:01:00","refcnt":1,"used":7,"confirmed":7,"updated":7,"probes":1,"state":["REACHABLE"]},' +
        '{"dst":"192.168.1.51","lladdr":"02:00:00:00:01:00","refcnt":1,"used":1,"confirmed":1,"updated":1,"probes":1,"state":["REACHABLE"]}]',
    ).map((n) => [n.address, n.confirmedAgoSec]),
    [
      ["192.168.1.50", 7],
      ["192.168.1.51", 1],
    ],
  );
  assert.deepEqual(parseIpNeighJson("[]"), []);
  assert.throws(() => parseIpNeighJson("Usage: ip neigh"), SyntaxError);
  assert.throws(() => parseIpNeighJson('{"dst":"192.168.1.5"}'));
});

test("which source wins: the lease unless its address is unreachable, else a confirmed entry, else an unconfirmed one", () => {
  const cases: [
    string,
    { leases?: string[]; neighbours?: Neighbour[] },
    string | undefined,
    string | undefined,
  ][] = [
    ["lease only", { leases: ["192.168.1.100"] }, "192.168.1.100", "lease-mac"],
    [
      "static device, talking now",
      { neighbours: [neigh("192.168.1.50", "REACHABLE")] },
      "192.168.1.50",
      "neighbour",
    ],
    [
      "static device, seen a while ago",
      { neighbours: [neigh("192.168.1.50", "STALE")] },
      "192.168.1.50",
      "neighbour",
    ],
    [
      "an admin's static entry",
      { neighbours: [neigh("192.168.1.50", "PERMANENT")] },
      "192.168.1.50",
      "neighbour",
    ],
    [
      "re-leased to a new address: the lease is followed, the old address still REACHABLE",
      { leases: ["192.168.1.120"], neighbours: [neigh("192.168.1.106", "REACHABLE", 1)] },
      "192.168.1.120",
      "lease-mac",
    ],
    [
      "a lease and a static address both answering: the lease",
      { leases: ["192.168.1.100"], neighbours: [neigh("192.168.1.50", "REACHABLE")] },
      "192.168.1.100",
      "lease-mac",
    ],
    [
      "left its lease for a static address: the lease's address FAILED, the new one answers",
      {
        leases: ["192.168.1.100"],
        neighbours: [unanswered("192.168.1.100", "FAILED"), neigh("192.168.1.50", "REACHABLE")],
      },
      "192.168.1.50",
      "neighbour",
    ],
    [
      "the lease's address unanswered and nothing better: the lease",
      { leases: ["192.168.1.100"], neighbours: [unanswered("192.168.1.100", "INCOMPLETE")] },
      "192.168.1.100",
      "lease-mac",
    ],
    [
      "an entry that agrees with the lease: the lease is named",
      { leases: ["192.168.1.100"], neighbours: [neigh("192.168.1.100", "REACHABLE")] },
      "192.168.1.100",
      "lease-mac",
    ],
    [
      "an old entry does not beat the lease",
      { leases: ["192.168.1.100"], neighbours: [neigh("192.168.1.50", "STALE")] },
      "192.168.1.100",
      "lease-mac",
    ],
    [
      "moved: the new address confirmed, the old one aging",
      { neighbours: [neigh("192.168.1.50", "STALE"), neigh("192.168.1.51", "REACHABLE")] },
      "192.168.1.51",
      "neighbour",
    ],
    [
      "FAILED or INCOMPLETE never count",
      { neighbours: [unanswered("192.168.1.50", "FAILED")] },
      undefined,
      undefined,
    ],
    [
      "another MAC's entry is not ours",
      {
        neighbours: [
          { address: "192.168.1.60", mac: "02:00:00:00:09:09", state: ["REACHABLE"], confirmedAgoSec: 1 },
        ],
      },
      undefined,
      undefined,
    ],
  ];
  for (const [name, given, address, source] of cases) {
    const choice = chooseDevice(
      {
        leases: (given.leases ?? []).map((a) => lease(MAC, a)),
        neighbours: given.neighbours ?? [],
      },
      byMacDevice,
      "lan0",
      unknownDevice,
    );
    assert.deepEqual([choice.address, choice.source], [address, source], name);
  }
});

test("a device that moved: its new address, confirmed more recently by more than the margin, replaces the old", () => {
  const inUse: DeviceChoice = { mac: MAC, address: "192.168.1.50", source: "neighbour", detail: undefined };
  const choose = (oldAge: number, newAge: number) =>
    chooseDevice(
      {
        leases: [],
        neighbours: [neigh("192.168.1.50", "REACHABLE", oldAge), neigh("192.168.1.51", "REACHABLE", newAge)],
      },
      byMacDevice,
      "lan0",
      inUse,
    ).address;
  assert.equal(choose(7, 1), "192.168.1.51", "the old entry is still REACHABLE, but 6 s staler");
  assert.equal(choose(4, 1), "192.168.1.51");
  assert.equal(choose(3, 1), "192.168.1.50", "within the margin (whole seconds, 2): no move");
  assert.equal(choose(1, 3), "192.168.1.50");
});

test("two confirmed addresses of one device: the one in use is kept, so the listeners do not flap", () => {
  const both = [neigh("192.168.1.60", "REACHABLE"), neigh("192.168.1.50", "REACHABLE")];
  const first = chooseDevice({ leases: [], neighbours: both }, byMacDevice, "lan0", unknownDevice);
  assert.equal(first.address, "192.168.1.50", "the lowest, when none is in use");
  const inUse: DeviceChoice = { mac: MAC, address: "192.168.1.60", source: "neighbour", detail: undefined };
  assert.equal(
    chooseDevice({ leases: [], neighbours: both }, byMacDevice, "lan0", inUse).address,
    "192.168.1.60",
  );
});

test("without device.mac the neighbour table is not used: every host on the LAN would be a candidate", () => {
  const single = makeConfig({ device: { leases: "/tmp/dhcp.leases" } });
  const choice = chooseDevice(
    { leases: [], neighbours: [neigh("192.168.1.50", "REACHABLE")] },
    only(single),
    "lan0",
    unknownDevice,
  );
  assert.equal(choice.address, undefined);
});

test("reduce + plan: a static device with an empty lease file is served once its entry appears, and kept when it ages out", () => {
  let state: State = { config: byMac, facts: initialFacts };
  state = reduce(state, {
    type: "links",
    links: [link("wan0", [addr("2001:db8:1::1")]), link("lan0", [addr("192.168.1.1")])],
  });
  state = reduce(state, { type: "leases", leases: [] });
  assert.equal(plan(state.facts, byMac).waitingFor, "device");
  assert.match(
    plan(state.facts, byMac).detail ?? "",
    /no DHCP lease or neighbour entry for 02:00:00:00:01:00/,
  );
  state = reduce(state, { type: "neighbours", neighbours: [neigh("192.168.1.50", "REACHABLE")] });
  const serving = plan(state.facts, byMac);
  assert.equal(serving.waitingFor, undefined);
  assert.equal(serving.desired.snat[0]?.deviceAddress, "192.168.1.50");
  assert.equal(serving.devices[0]?.device.source, "neighbour");
  // The entry is garbage-collected while the device is quiet: it is most likely still there.
  state = reduce(state, { type: "neighbours", neighbours: [] });
  assert.equal(plan(state.facts, byMac).desired.snat[0]?.deviceAddress, "192.168.1.50");
  assert.match(state.facts.devices.device?.detail ?? "", /keeping the last known address/);
});

test("the source: a snapshot at start, then one per monitor line naming the MAC or an unanswered entry (other hosts' lines are ignored)", async () => {
  const lines = new Subject<string>();
  const calls: string[] = [];
  let onLine: (line: string) => void = () => undefined;
  const runner: Runner = {
    run(argv) {
      calls.push(argv.join(" "));
      const n = calls.filter((c) => c.includes("neigh show")).length;
      return Promise.resolve({
        exitCode: 0,
        stdout: JSON.stringify([{ dst: `192.168.1.${String(49 + n)}`, lladdr: MAC, state: ["REACHABLE"] }]),
        stderr: "",
      });
    },
    spawn(argv, options) {
      calls.push(argv.join(" "));
      onLine = options?.onStdoutLine ?? onLine;
      const spawned: Spawned = {
        pid: 4242,
        exited: new Promise(() => undefined),
        kill: () => undefined,
      };
      return spawned;
    },
  };
  lines.subscribe((l) => onLine(l));
  const events = firstValueFrom(
    neighbourEvents(runner, "lan0", [MAC], pino({ level: "silent" })).pipe(take(3), toArray()),
  );
  await new Promise((r) => setTimeout(r, 20));
  lines.next("192.168.1.77 dev lan0 lladdr 02:00:00:00:0a:0b REACHABLE"); // another host: no snapshot
  lines.next(`192.168.1.51 dev lan0 lladdr ${MAC.toUpperCase()} REACHABLE`);
  await new Promise((r) => setTimeout(r, 20));
  // A lease's address that stopped answering carries no MAC, and can still decide the device.
  lines.next("192.168.1.100 dev lan0 FAILED");
  const seen = await events;
  assert.deepEqual(
    seen.map((e) => (e.type === "neighbours" ? e.neighbours[0]?.address : e.type)),
    ["192.168.1.50", "192.168.1.51", "192.168.1.52"],
  );
  assert.deepEqual(calls.sort().reverse(), [
    "ip -s -4 -json neigh show dev lan0",
    "ip -s -4 -json neigh show dev lan0",
    "ip -s -4 -json neigh show dev lan0",
    "ip -o monitor neigh",
  ]);
});

test("a device found by MAC waits for the lease read before a neighbour entry is taken: a lease ranks above it", () => {
  let state: State = { config: byMac, facts: initialFacts };
  state = reduce(state, {
    type: "links",
    links: [link("wan0", [addr("2001:db8:1::1")]), link("lan0", [addr("192.168.1.1")])],
  });
  // The neighbour table first (an old address of the device still REACHABLE), the lease file not read yet.
  state = reduce(state, { type: "neighbours", neighbours: [neigh("192.168.1.50", "REACHABLE")] });
  const before = plan(state.facts, byMac);
  assert.equal(before.waitingFor, "device");
  assert.equal(before.detail, "lease file not read yet");
  assert.deepEqual(before.desired.snat, [], "nothing is set up for an address the lease may overrule");
  state = reduce(state, { type: "leases", leases: [lease(MAC, "192.168.1.100")] });
  const after = plan(state.facts, byMac);
  assert.equal(after.desired.snat[0]?.deviceAddress, "192.168.1.100");
  assert.equal(after.devices[0]?.device.source, "lease-mac");
  // An empty lease file, once read: the neighbour entry serves.
  const empty = reduce(
    reduce(
      reduce(
        { config: byMac, facts: initialFacts },
        {
          type: "links",
          links: [link("wan0", [addr("2001:db8:1::1")]), link("lan0", [addr("192.168.1.1")])],
        },
      ),
      { type: "neighbours", neighbours: [neigh("192.168.1.50", "REACHABLE")] },
    ),
    { type: "leases", leases: [] },
  );
  assert.equal(plan(empty.facts, byMac).desired.snat[0]?.deviceAddress, "192.168.1.50");
});
