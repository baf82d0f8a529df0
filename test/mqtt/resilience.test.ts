// When things go wrong: the agent killed (the broker publishes our last will), the broker stopped and started again
// (we reconnect and republish what it forgot), the broker absent at start (we connect when it comes).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { setTimeout as delay } from "node:timers/promises";
import { execa, type ResultPromise } from "execa";
import { topicsFor, type MqttHandle } from "../../src/mqtt/index.js";
import { FakeControl } from "../fakes/control.js";
import { startBroker, type Broker } from "./broker.js";
import { Observer, eventually, json, withDeadline } from "./observer.js";
import { memoryLogger, startTestSession, testConfig } from "./support.js";

const CHILD = fileURLToPath(new URL("./fixtures/mqtt-child.ts", import.meta.url));

let broker: Broker;
const cleanups: (() => Promise<unknown>)[] = [];

before(async () => {
  broker = await startBroker();
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await broker.destroy();
});

async function observe(topics: string[]): Promise<Observer> {
  const observer = await Observer.connect(broker.url, topics);
  cleanups.push(() => observer.close());
  return observer;
}

function track(handle: MqttHandle): MqttHandle {
  cleanups.push(() => handle.stop());
  return handle;
}

function spawnChild(config: object): ResultPromise {
  const child = execa("node", ["--import", "tsx", CHILD], {
    env: { SIXGATE_TEST_MQTT_CONFIG: JSON.stringify(config) },
    reject: false,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  cleanups.push(async () => {
    child.kill("SIGKILL");
    await child;
  });
  return child;
}

describe("mqtt resilience", { timeout: 90000 }, () => {
  test("the agent killed with SIGKILL: the broker publishes our last will, offline and retained", async () => {
    const config = testConfig(broker);
    const topics = topicsFor(config);
    const observer = await observe([topics.availability]);
    const child = spawnChild(config);
    await observer.waitFor((m) => m.payload === "online", "the child online", { timeoutMs: 15000 });
    const mark = observer.mark();
    child.kill("SIGKILL");
    const result = await withDeadline(child, 5000, "the child to die");
    assert.equal(result.signal, "SIGKILL");
    const will = await observer.waitFor((m) => m.seq > mark, "the last will", { timeoutMs: 5000 });
    assert.equal(will.payload, "offline");
    const newcomer = await observe([topics.availability]);
    const retained = await newcomer.waitFor(() => true, "retained availability");
    assert.equal(retained.payload, "offline");
    assert.equal(retained.retain, true);
  });

  test("the agent stopped with SIGTERM: offline published by the agent itself, exit 0", async () => {
    const config = testConfig(broker);
    const topics = topicsFor(config);
    const observer = await observe([topics.availability]);
    const child = spawnChild(config);
    await observer.waitFor((m) => m.payload === "online", "the child online", { timeoutMs: 15000 });
    const mark = observer.mark();
    child.kill("SIGTERM");
    const result = await withDeadline(child, 5000, "the child to exit");
    assert.equal(result.exitCode, 0);
    const offline = await observer.waitFor((m) => m.seq > mark, "offline");
    assert.equal(offline.payload, "offline");
    assert.match(String(result.stderr), /mqtt stopped/);
  });

  test("an earlier session's last will arriving after the new session is online: online again at once", async () => {
    const config = testConfig(broker);
    const topics = topicsFor(config);
    // The agent before a reboot: a session with the same last will, which the broker declares dead only later.
    const predecessor = await Observer.connect(broker.url, [`${config.baseTopic}/predecessor`], {
      will: { topic: topics.availability, payload: Buffer.from("offline"), qos: 1, retain: true },
      reconnectPeriod: 0,
    });
    const observer = await observe([topics.availability]);
    const memory = memoryLogger();
    const handle = track(startTestSession(config, memory.log));
    await observer.waitFor((m) => m.payload === "online", "the new session online", { timeoutMs: 10000 });
    const mark = observer.mark();
    predecessor.client.end(true); // gone without a DISCONNECT: the broker publishes its will now
    const will = await observer.waitFor((m) => m.seq > mark, "the stale last will");
    assert.equal(will.payload, "offline");
    const again = await observer.waitFor((m) => m.seq > will.seq, "online again");
    assert.equal(again.payload, "online");
    const newcomer = await observe([topics.availability]);
    assert.equal((await newcomer.waitFor(() => true, "retained availability")).payload, "online");
    assert.match(memory.text(), /last will said offline; publishing online again/);

    // Our own offline at a clean stop is not taken for a stale will.
    await handle.stop();
    const last = await observe([topics.availability]);
    assert.equal((await last.waitFor(() => true, "retained availability after stop")).payload, "offline");
  });

  test("broker stopped and started again: the session reconnects and republishes state and discovery", async () => {
    const control = new FakeControl();
    const memory = memoryLogger();
    const config = testConfig(broker);
    const handle = track(startTestSession(config, memory.log, control));
    await eventually(() => handle.connected, "connected");
    const { topics } = handle;
    const before = await Observer.connect(broker.url, [topics.state]);
    await before.waitFor(() => true, "the first state");
    await before.close();

    await broker.stop();
    await eventually(() => !handle.connected, "the session noticing the broker is gone");

    // The agent goes on while the broker is away; its changes cost nothing here and are not lost.
    const started = performance.now();
    for (let i = 0; i < 200; i++)
      control.update({ phase: "degraded", reason: `while the broker was away ${i}` });
    assert.ok(performance.now() - started < 200, "status changes must not wait for the broker");
    await delay(700);

    await broker.start();
    await eventually(() => handle.connected, "reconnected", 10000);
    assert.match(memory.text(), /mqtt reconnected/);

    // The restarted broker kept nothing (no persistence): whatever a newcomer finds, we published again.
    const newcomer = await observe([topics.availability, topics.state, topics.discovery]);
    const availability = await newcomer.waitFor((m) => m.topic === topics.availability, "availability");
    assert.equal(availability.payload, "online");
    assert.equal(availability.retain, true);
    const state = await newcomer.waitFor((m) => m.topic === topics.state, "state");
    assert.equal(state.retain, true);
    assert.equal(json(state).reason, "while the broker was away 199");
    const discovery = await newcomer.waitFor((m) => m.topic === topics.discovery, "discovery");
    assert.equal(discovery.retain, true);

    // And the command topic is subscribed again.
    const dashboard = await observe([topics.response]);
    await dashboard.publish(topics.request, JSON.stringify({ id: "after", command: "status" }));
    const response = await dashboard.waitFor(() => true, "a response after the reconnect");
    assert.equal(json(response).ok, true);
  });

  test("started while the broker is down: connects and publishes once it is up", async () => {
    await broker.stop();
    const control = new FakeControl();
    const config = testConfig(broker);
    const handle = track(startTestSession(config, memoryLogger().log, control));
    await delay(800);
    assert.equal(handle.connected, false);
    await broker.start();
    await eventually(() => handle.connected, "connected once the broker is up", 10000);
    const newcomer = await observe([handle.topics.state]);
    const state = await newcomer.waitFor(() => true, "state");
    assert.equal(json(state).phase, "serving");
  });
});
