// The agent with own IPv6 addresses: adoption across a restart, the tentative wait, removal on stop.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeAddresses } from "../fakes/adapters.js";
import { setup, sleep, until } from "./agent-harness.js";
import { addr, lease, link } from "./fixtures.js";

const CAM = "02:00:00:00:01:00";
const config = {
  device: undefined,
  ports: undefined,
  devices: [{ name: "cam", mac: CAM, ipv6: "own", ipv6Suffix: "::80", ports: [{ listen: 80, target: 80 }] }],
};
const own = (address: string, extra = {}) => addr(address, { prefixlen: 128, ...extra });

test("a restarted agent adopts its recorded address still there (no remove, no add) and removes a stale one", async (t) => {
  const addresses = new FakeAddresses();
  addresses.recorded = [
    { device: "cam", interface: "wan0", address: "2001:db8:1::80" },
    { device: "cam", interface: "wan0", address: "2001:db8:9::80" },
  ];
  const { agent, leases, listeners, snapshot } = setup({ config, addresses });
  t.after(() => agent.stop());
  // The leases come first: a reconcile before the first interface snapshot would remove the adopted address.
  leases.next({ type: "leases", leases: [lease(CAM, "192.168.1.100")] });
  await sleep(100);
  snapshot(link("wan0", [addr("2001:db8:1::1"), own("2001:db8:1::80")]));
  await until(() => agent.status().phase === "serving", "serving");
  assert.deepEqual(addresses.calls, ["remove:cam:2001:db8:9::80"]);
  assert.equal(listeners.running.get("cam/80")?.wanAddress, "2001:db8:1::80");
  assert.deepEqual(agent.status().devices[0]?.ipv6, {
    mode: "own",
    address: "2001:db8:1::80",
    state: "valid",
  });
  await agent.stop();
  assert.deepEqual(addresses.calls.slice(-1), ["removeAll"]);
  assert.deepEqual(addresses.held, []);
});

test("an own address is added, its listener waits while it is tentative, then binds it", async (t) => {
  const { agent, leases, listeners, addresses, snapshot } = setup({ config });
  t.after(() => agent.stop());
  leases.next({ type: "leases", leases: [lease(CAM, "192.168.1.100")] });
  snapshot(link("wan0", [addr("2001:db8:1::1")]));
  await until(() => addresses.calls.includes("add:cam:2001:db8:1::80"), "added");
  snapshot(link("wan0", [addr("2001:db8:1::1"), own("2001:db8:1::80", { tentative: true })]));
  await until(() => agent.status().devices[0]?.ipv6.state === "tentative", "tentative");
  const waiting = agent.status().devices[0];
  assert.ok(waiting);
  assert.equal(waiting.phase, "waiting");
  assert.equal(waiting.waitingFor, "own-address");
  assert.equal(listeners.running.size, 0);
  snapshot(link("wan0", [addr("2001:db8:1::1"), own("2001:db8:1::80")]));
  await until(() => agent.status().phase === "serving", "serving");
  assert.equal(listeners.running.get("cam/80")?.wanAddress, "2001:db8:1::80");
  assert.deepEqual(addresses.calls, ["add:cam:2001:db8:1::80"]);
});

test("an own address already on the interface that the agent did not add is another's: no listener, no add, the device says why", async (t) => {
  const { agent, leases, listeners, addresses, snapshot } = setup({ config });
  t.after(() => agent.stop());
  leases.next({ type: "leases", leases: [lease(CAM, "192.168.1.100")] });
  snapshot(link("wan0", [addr("2001:db8:1::1"), own("2001:db8:1::80")]));
  await until(
    () => /in use by something else/.test(agent.status().devices[0]?.reason ?? ""),
    "the cam's reason names the address in use",
  );
  const cam = agent.status().devices[0];
  assert.ok(cam);
  assert.equal(cam.phase, "waiting");
  assert.equal(cam.waitingFor, "own-address");
  assert.match(cam.reason ?? "", /own address 2001:db8:1::80 is in use by something else/);
  assert.deepEqual(cam.ipv6, { mode: "own", address: null, state: null });
  assert.equal(listeners.running.size, 0, "nothing serves on an address that is not ours");
  assert.deepEqual(addresses.calls, [], "neither added nor removed");
  // Once the other program's address is gone, the cam's is added and served.
  snapshot(link("wan0", [addr("2001:db8:1::1")]));
  await until(() => addresses.calls.includes("add:cam:2001:db8:1::80"), "added");
  snapshot(link("wan0", [addr("2001:db8:1::1"), own("2001:db8:1::80")]));
  await until(() => agent.status().phase === "serving", "serving");
  assert.equal(listeners.running.get("cam/80")?.wanAddress, "2001:db8:1::80");
});
