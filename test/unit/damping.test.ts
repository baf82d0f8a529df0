// Link flap damping in virtual time: the pure rules (src/core/damping.ts), the operator between the netlink source
// and reduce (src/sources/damping.ts), and what a ten-second cable bounce costs the listeners through the real core.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Subject } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { initialDamping, linkFlaps, observeLinks, type DampingConfig } from "../../src/core/damping.js";
import { initialFacts, reduce } from "../../src/core/facts.js";
import { plan } from "../../src/core/plan.js";
import type { Event, State } from "../../src/core/types.js";
import { dampFlaps, dampingSettings } from "../../src/sources/damping.js";
import { addr, lease, link, makeConfig } from "./fixtures.js";

const CONFIG: DampingConfig = { flaps: 3, windowMs: 30_000, holdMs: 10_000 };
const snapshot = (wanUp: boolean) => [
  link("wan0", [addr("2001:db8:1::1")], wanUp),
  link("lan0", [addr("192.168.1.1")]),
];

test("damping rules: an isolated unplug passes at once; the third down within the window holds; steady releases", () => {
  // [time ms, wan0 up, expected heldDown, expected flaps]
  const steps: [number, boolean, boolean, number][] = [
    [0, true, false, 0],
    [1_000, false, false, 1], // an unplug: seen at once
    [2_000, true, false, 1], // and the replug
    [3_000, false, false, 2],
    [3_500, true, false, 2],
    [4_000, false, true, 3], // third down within 30 s: held
    [4_500, true, true, 3], // up, but held until steady for 10 s
    [14_000, true, true, 3], // nothing changed since 4 500: not yet 10 s
    [14_500, true, false, 3], // steady for 10 s: released
    [60_000, false, false, 4], // much later: the old downs left the window
  ];
  let state = initialDamping;
  const seen = steps.map(([at, up]) => {
    state = observeLinks(state, snapshot(up), ["wan0", "lan0"], at, CONFIG);
    const f = linkFlaps(state).wan0;
    return [at, up, f?.heldDown, f?.flaps];
  });
  assert.deepEqual(seen, steps);
  assert.deepEqual(linkFlaps(state).lan0, { flaps: 0, heldDown: false });
});

test("damping rules: flaps 0 switches holding off but still counts", () => {
  const off = { ...CONFIG, flaps: 0 };
  let state = initialDamping;
  for (let i = 0; i < 20; i++) state = observeLinks(state, snapshot(i % 2 === 0), ["wan0"], i * 100, off);
  assert.deepEqual(linkFlaps(state).wan0, { flaps: 10, heldDown: false });
});

test("the operator re-emits the last snapshot when a hold ends, with no other event (virtual time)", () => {
  const scheduler = new TestScheduler((a, b) => assert.deepEqual(a, b));
  scheduler.run(({ cold, expectObservable }) => {
    const ev = (up: boolean): Event => ({ type: "links", links: snapshot(up) });
    // Downs at 10, 30, 50 ms (the third holds), last change at 60 ms; hold 100 ms: released at 160 ms.
    const source = cold("u 9ms d 9ms u 9ms d 9ms u 9ms d 9ms u", { u: ev(true), d: ev(false) });
    const settings = () => ({ config: { flaps: 3, windowMs: 1_000, holdMs: 100 }, watched: ["wan0"] });
    const out = source.pipe(dampFlaps(settings, () => scheduler.now(), scheduler));
    const flaps = (n: number, heldDown: boolean) => ({ wan0: { flaps: n, heldDown } });
    const e = (up: boolean, n: number, held: boolean): Event => ({
      type: "links",
      links: snapshot(up),
      flaps: flaps(n, held),
    });
    expectObservable(out).toBe("a 9ms b 9ms c 9ms d 9ms e 9ms f 9ms g 99ms h", {
      a: e(true, 0, false),
      b: e(false, 1, false),
      c: e(true, 1, false),
      d: e(false, 2, false),
      e: e(true, 2, false),
      f: e(false, 3, true),
      g: e(true, 3, true),
      h: e(true, 3, false),
    });
  });
});

test("a WAN cable bouncing for ten seconds: listeners start at most flaps + 1 times, then serve once steady", (t) => {
  const config = makeConfig({ device: { mac: "02:00:00:00:01:00", leases: "/tmp/dhcp.leases" } });
  const scheduler = new TestScheduler((a, b) => assert.deepEqual(a, b));
  const starts = (damped: boolean): { starts: number; serving: boolean } => {
    let result = { starts: 0, serving: false };
    scheduler.run(({ flush }) => {
      const input = new Subject<Event>();
      let state: State = { config, facts: initialFacts };
      let listening = false;
      let count = 0;
      const settings = () =>
        damped ? dampingSettings(config) : { ...dampingSettings(config), config: { ...CONFIG, flaps: 0 } };
      input.pipe(dampFlaps(settings, () => scheduler.now(), scheduler)).subscribe((event) => {
        state = reduce(state, event);
        const now = plan(state.facts, config).desired.listeners.length > 0;
        if (now && !listening) count++;
        listening = now;
      });
      input.next({ type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.100")] });
      input.next({ type: "links", links: snapshot(true) });
      // Carrier lost and back every 150 ms for ten seconds.
      for (let t = 150; t <= 10_000; t += 150) {
        const up = (t / 150) % 2 === 0;
        scheduler.schedule(() => input.next({ type: "links", links: snapshot(up) }), t);
      }
      scheduler.schedule(() => input.next({ type: "links", links: snapshot(true) }), 10_050);
      flush();
      result = { starts: count - 1, serving: listening }; // the first start is not a restart
    });
    return result;
  };
  const damped = starts(true);
  assert.ok(damped.starts <= 3 + 1, `restarted ${damped.starts} times with damping`);
  assert.equal(damped.serving, true, "serves once the link is steady");
  const undamped = starts(false);
  assert.ok(undamped.starts >= 30, `without damping: ${undamped.starts} restarts (the fault)`);
  t.diagnostic(`listener restarts over a 10 s bounce: ${damped.starts} damped, ${undamped.starts} undamped`);
});

test("wan.addressFrom's own interface is damped too: a bouncing address source holds the listeners", () => {
  const config = makeConfig({
    wan: { interface: "wan0", addressFrom: "pd0" },
    device: { mac: "02:00:00:00:01:00", leases: "/tmp/dhcp.leases" },
  });
  assert.deepEqual(dampingSettings(config).watched, ["wan0", "pd0", "lan0"]);
  const links = (pdUp: boolean) => [
    link("wan0", [addr("fe80::2", { scope: "link" })]),
    link("pd0", pdUp ? [addr("2001:db8:1:100::1")] : [], pdUp),
    link("lan0", [addr("192.168.1.1")]),
  ];
  let state: State = { config, facts: initialFacts };
  state = reduce(state, { type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.100")] });
  let dampingState = initialDamping;
  const observe = (pdUp: boolean, at: number) => {
    dampingState = observeLinks(dampingState, links(pdUp), dampingSettings(config).watched, at, CONFIG);
    state = reduce(state, { type: "links", links: links(pdUp), flaps: linkFlaps(dampingState) });
  };
  observe(true, 0);
  assert.equal(plan(state.facts, config).desired.listeners.length, 2);
  [false, true, false, true, false, true].forEach((up, i) => observe(up, 1_000 + i * 200));
  const held = plan(state.facts, config);
  assert.equal(held.waitingFor, "wan-address");
  assert.match(held.detail ?? "", /pd0 is flapping \(3 flaps\)/);
  assert.deepEqual(held.desired.listeners, []);
});
