// Refuse when down: a device whose every device hop failed in two probes in a row has no listeners (a new
// connection is refused at once); one hop that answers brings them back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { reduce } from "../../src/core/facts.js";
import { plan } from "../../src/core/plan.js";
import { devicePhaseOf, phaseOf } from "../../src/core/phase.js";
import type { DeviceHop, State } from "../../src/core/types.js";
import { addr, healthyFacts, lease, link, makeConfig, only } from "./fixtures.js";
import { setup, until } from "./agent-harness.js";

const config = makeConfig();
const hop = (ok: boolean, over: Partial<DeviceHop> = {}): DeviceHop => ({
  device: "device",
  address: "192.168.1.100",
  target: 80,
  ok,
  error: ok ? null : "ECONNREFUSED: connect(...): Connection refused",
  ...over,
});
const probed = (state: State, hops: DeviceHop[]) => reduce(state, { type: "device-hops", hops });
const listens = (state: State) => plan(state.facts, state.config).desired.listeners.map((l) => l.listen);

test("two failed probes in a row leave the device's listeners out, keep its SNAT rule, and say why", () => {
  const healthy: State = { config, facts: healthyFacts() };
  const once = probed(healthy, [hop(false), hop(false, { target: 23 })]);
  assert.deepEqual(listens(once), [80, 2323], "one failed probe changes nothing");
  const twice = probed(once, [hop(false), hop(false, { target: 23 })]);
  const p = plan(twice.facts, config);
  assert.deepEqual(p.desired.listeners, []);
  assert.deepEqual(p.desired.snat, plan(healthy.facts, config).desired.snat);
  const reason =
    "unreachable: refusing connections (device port 80: ECONNREFUSED: connect(...): Connection refused)";
  assert.equal(only(p).unreachable, reason);
  const device = devicePhaseOf({
    plan: only(p),
    converging: false,
    listeners: [],
    probeFailure: undefined,
  });
  assert.deepEqual(device, { name: "device", phase: "degraded", reason });
  const agent = phaseOf({
    observed: true,
    stopping: false,
    plan: p,
    reconcileError: undefined,
    devices: [device],
  });
  assert.deepEqual(agent, { phase: "degraded", waitingFor: undefined, reason });
  assert.deepEqual(
    listens(probed(twice, [hop(true), hop(false, { target: 23 })])),
    [80, 2323],
    "one hop answers",
  );
});

test("a probe between two failures, a new address, or a probe without the device starts the count again", () => {
  const healthy: State = { config, facts: healthyFacts() };
  const between = probed(probed(probed(healthy, [hop(false)]), [hop(true)]), [hop(false)]);
  assert.deepEqual(listens(between), [80, 2323]);
  const moved = probed(probed(healthy, [hop(false, { address: "192.168.1.99" })]), [hop(false)]);
  assert.deepEqual(listens(moved), [80, 2323], "a failure at the old address says nothing about the new one");
  const unprobed = probed(probed(probed(healthy, [hop(false)]), []), [hop(false)]);
  assert.deepEqual(listens(unprobed), [80, 2323]);
  // Known unreachable at its old address, then re-leased: served at the new one at once.
  const down = probed(probed(healthy, [hop(false)]), [hop(false)]);
  assert.deepEqual(listens(down), []);
  const released = reduce(down, { type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.120")] });
  assert.deepEqual(listens(released), [80, 2323]);
});

test("several devices: only the unreachable one is refused", () => {
  const two = makeConfig({
    device: undefined,
    ports: undefined,
    devices: [
      { name: "cam", mac: "02:00:00:00:01:00", ports: [{ listen: 8080, target: 80 }] },
      { name: "plc", address: "192.168.1.50", ports: [{ listen: 502, target: 502 }] },
    ],
  });
  let state: State = { config: two, facts: healthyFacts({}, two) };
  const hops = [
    hop(true, { device: "cam" }),
    hop(false, { device: "plc", address: "192.168.1.50", target: 502 }),
  ];
  state = probed(probed(state, hops), hops);
  const p = plan(state.facts, two);
  assert.deepEqual(
    p.desired.listeners.map((l) => `${l.device}/${l.listen}`),
    ["cam/8080"],
  );
  assert.deepEqual(
    p.desired.snat.map((r) => r.device),
    ["cam", "plc"],
  );
});

test("agent: a health tick with the device down refuses it (a second probe at once), the next tick with it back serves", async (t) => {
  let deviceUp = true;
  let probes = 0;
  const { agent, leases, listeners, snapshot } = setup({
    probeOk: () => {
      probes++;
      return deviceUp;
    },
  });
  t.after(() => agent.stop());
  snapshot(link("wan0", [addr("2001:db8:1::1")]));
  leases.next({ type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.100")] });
  await until(() => agent.status().phase === "serving", "serving");
  deviceUp = false;
  probes = 0;
  await agent.healthTick();
  assert.equal(probes, 2, "the first failure is confirmed by a second probe at once");
  await until(() => listeners.running.size === 0, "listeners stopped");
  await until(() => agent.status().phase === "degraded", "degraded");
  assert.match(
    agent.status().reason ?? "",
    /^unreachable: refusing connections \(device port 80: ECONNREFUSED\)$/,
  );
  deviceUp = true;
  await agent.healthTick();
  await until(() => listeners.running.size === 2 && agent.status().phase === "serving", "serving again");
});
