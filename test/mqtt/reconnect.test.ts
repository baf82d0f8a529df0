// After a half-open drop (the broker's packets dropped, nothing closed) the retained state is the current one, not
// a publish of the cut that mqtt.js or the network delivers late. The session must publish the current state after
// anything replayed: mqtt.js 5 emits `connect` only once its store replay is done, and nothing is handed to
// mqtt.js while the session is down. A guard for both, and for the late delivery of the old connection's bytes.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { FakeControl } from "../fakes/control.js";
import { startCutProxy, type CutProxy } from "./cut-proxy.js";
import { eventually, json } from "./observer.js";
import { memoryLogger, startTestSession, testConfig, useBroker } from "./support.js";

const fixture = useBroker();
const { observe, track } = fixture;
let running: CutProxy | undefined;

before(async () => {
  running = await startCutProxy((await fixture.ready()).port);
});

after(async () => {
  await running?.close();
});

describe("mqtt after a half-open drop", { timeout: 60000 }, () => {
  for (const direction of ["both", "from-server"] as const) {
    test(`cut ${direction === "both" ? "both ways" : "from the broker only"}, state changed meanwhile: a fresh subscriber reads the current state`, async () => {
      const { broker } = fixture;
      const proxy = running;
      if (proxy === undefined) throw new Error("the proxy starts in before()");
      const control = new FakeControl();
      const memory = memoryLogger();
      const config = testConfig(broker, { url: proxy.url, keepalive: 5 });
      const handle = track(startTestSession(config, memory.log, control));
      const { topics } = handle;
      const watcher = await observe([topics.state]);
      control.update({ reason: "before the cut" });
      await watcher.waitFor((m) => json(m).reason === "before the cut", "the state before the cut");

      proxy.cut(direction);
      // Published into the void: the client thinks it is connected until its keepalive runs out.
      control.update({ phase: "degraded", reason: "during the cut, still connected" });
      await eventually(() => !handle.connected, "the session noticing the dead connection", 15000);
      // While the session is down: the current state from now on.
      control.update({ phase: "serving", reason: "current" });
      proxy.restore();
      await eventually(() => handle.connected, "reconnected after the restore", 15000);
      // Everything the cut held back has been delivered once only the live connection is left.
      await eventually(() => proxy.open === 1, "the old connections through the proxy gone", 15000);
      await watcher.waitFor((m) => json(m).reason === "current", "the current state", { timeoutMs: 10000 });

      const newcomer = await observe([topics.state, topics.availability]);
      const state = await newcomer.waitFor((m) => m.topic === topics.state, "the retained state");
      assert.equal(json(state).reason, "current", "a stale state overwrote the current one");
      assert.equal(json(state).phase, "serving");
      const availability = await newcomer.waitFor((m) => m.topic === topics.availability, "availability");
      assert.equal(availability.payload, "online");
      // And it stays current: nothing stale arrives after it.
      const last = watcher.last(topics.state);
      assert.equal(json(last).reason, "current", "the last state any subscriber saw is stale");
      await handle.stop();
      proxy.reset();
    });
  }
});
