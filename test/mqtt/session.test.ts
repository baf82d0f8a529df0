// The MQTT session against a real Mosquitto: availability, state and discovery published and retained; state on
// change without duplicates and on every health tick; the Home Assistant birth message answered; offline on a clean
// stop; TLS; refused credentials; secrets in no payload and no log line; a broker that is away slows nothing.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { Subject } from "rxjs";
import type { ProbeReport } from "../../src/control.js";
import { cleanupMqtt, startMqtt, type MqttHandle } from "../../src/mqtt/index.js";
import { FakeControl, sampleReport } from "../fakes/control.js";
import { PASSWORD, USERNAME, freePort, startBroker, type Broker } from "./broker.js";
import { Observer, eventually, json } from "./observer.js";
import { FAST_RECONNECT, memoryLogger, testConfig } from "./support.js";

let broker: Broker;
const cleanups: (() => Promise<void>)[] = [];

before(async () => {
  broker = await startBroker();
});

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await broker.destroy();
});

function track(handle: MqttHandle): MqttHandle {
  cleanups.push(() => handle.stop());
  return handle;
}

async function observe(topics: string[]): Promise<Observer> {
  const observer = await Observer.connect(broker.url, topics);
  cleanups.push(() => observer.close());
  return observer;
}

describe("mqtt session", { timeout: 60000 }, () => {
  test("availability, state and discovery are published and retained", async () => {
    const control = new FakeControl();
    const { log } = memoryLogger();
    const config = testConfig(broker);
    const handle = track(
      startMqtt({ config, control, log, version: "9.9.9", hostname: "gw1", probeReports: new Subject() }),
    );
    await eventually(() => handle.connected, "connected");
    const { topics } = handle;
    // Give the publishes time to land, then look as a newcomer would: only retained messages can arrive.
    const first = await observe([`${config.baseTopic}/#`]);
    await first.waitFor((m) => m.topic === topics.state, "state");
    await first.close();

    const newcomer = await observe([`${config.baseTopic}/#`, topics.discovery]);
    const availability = await newcomer.waitFor((m) => m.topic === topics.availability, "availability");
    assert.equal(availability.payload, "online");
    assert.equal(availability.retain, true);

    const stateMsg = await newcomer.waitFor((m) => m.topic === topics.state, "state");
    assert.equal(stateMsg.retain, true);
    const state = json(stateMsg);
    assert.equal(state.phase, "serving");
    assert.equal(state.version, "9.9.9");
    assert.deepEqual(state.wan, { interface: "wan0", address: "2001:db8::1" });
    assert.deepEqual(state.lan, { interface: "lan0", address: "192.168.1.1" });
    assert.deepEqual(state.device, {
      mac: "02:00:00:00:01:00",
      address: "192.168.1.100",
      source: "lease-mac",
      reachable: null,
    });
    assert.equal(state.listenersUp, 2);
    assert.equal(state.listenersTotal, 2);
    assert.deepEqual(state.firewall, { backend: "nft", applied: true, matchesPlan: true });
    assert.deepEqual(state.ports, control.status().ports);
    assert.equal(typeof state.uptimeSec, "number");

    const discovery = await newcomer.waitFor((m) => m.topic === topics.discovery, "discovery");
    assert.equal(discovery.retain, true);
    const payload = json(discovery);
    assert.deepEqual(Object.keys(payload.components as object).sort(), [
      "device_ipv4",
      "listeners_up",
      "phase",
      "proxy_enabled",
      "reachable",
      "reconcile",
      "reconcile_duration",
      "restart_listeners",
      "wan_ipv6",
    ]);
    assert.equal(payload.availability_topic, topics.availability);
    assert.equal(topics.discovery, `homeassistant/device/${config.baseTopic.replace("/", "_")}/config`);
    // Nothing we did not ask for: no response without a request.
    assert.equal(newcomer.on(topics.response).length, 0);
  });

  test("state is published on change, never twice the same, and at least on every health tick", async () => {
    const control = new FakeControl();
    const ticks = new Subject<ProbeReport>();
    const { log } = memoryLogger();
    const config = testConfig(broker);
    let nowMs = Date.parse("2026-01-01T00:01:00.000Z");
    const handle = track(
      startMqtt({
        config,
        control,
        log,
        version: "1",
        hostname: "gw1",
        probeReports: ticks,
        now: () => nowMs,
      }),
    );
    await eventually(() => handle.connected, "connected");
    const observer = await observe([handle.topics.state]);
    await observer.waitFor(() => true, "the retained state");

    // The same status again, several times, and the clock moving (uptime only): nothing is published.
    let mark = observer.mark();
    nowMs += 5000;
    control.reemit();
    control.reemit();
    control.reemit();
    await delay(400);
    assert.equal(observer.messages.filter((m) => m.seq > mark).length, 0, "a duplicate state was published");

    // A real change: published once, with the change.
    control.update({ phase: "degraded", reason: "listener :80 restarting" });
    const changed = json(await observer.waitFor((m) => m.seq > mark, "the changed state"));
    assert.equal(changed.phase, "degraded");
    assert.equal(changed.reason, "listener :80 restarting");
    assert.equal(changed.uptimeSec, 65);
    await delay(300);
    assert.equal(observer.messages.filter((m) => m.seq > mark).length, 1, "one change, one publish");

    // A health tick publishes even when nothing changed, and carries the probe results.
    mark = observer.mark();
    ticks.next(sampleReport);
    const ticked = json(await observer.waitFor((m) => m.seq > mark, "state after a tick"));
    assert.deepEqual(ticked.probes, sampleReport);
    assert.equal((ticked.device as { reachable: unknown }).reachable, true);
    mark = observer.mark();
    ticks.next(sampleReport);
    await observer.waitFor((m) => m.seq > mark, "state after a second, identical tick");

    // An end-to-end probe failing turns "reachable" off.
    mark = observer.mark();
    ticks.next({
      at: "2026-01-01T00:02:00.000Z",
      ok: false,
      results: [
        {
          device: "device",
          hop: "end-to-end",
          listen: 80,
          target: 80,
          ok: false,
          ms: 3,
          error: "ECONNREFUSED",
        },
      ],
    });
    const failing = json(await observer.waitFor((m) => m.seq > mark, "state after a failed probe"));
    assert.equal((failing.device as { reachable: unknown }).reachable, false);
  });

  test("a burst of status changes is coalesced: the last one is published, the broker is not flooded", async () => {
    const control = new FakeControl();
    const { log } = memoryLogger();
    const config = testConfig(broker);
    const handle = track(startMqtt({ config, control, log, version: "1", probeReports: new Subject() }));
    await eventually(() => handle.connected, "connected");
    const observer = await observe([handle.topics.state]);
    await observer.waitFor(() => true, "the retained state");
    const mark = observer.mark();
    for (let i = 1; i <= 500; i++) control.update({ reason: `change ${i}` });
    await observer.waitFor((m) => m.seq > mark && json(m).reason === "change 500", "the last change");
    await delay(300);
    const published = observer.messages.filter((m) => m.seq > mark).length;
    assert.ok(published <= 3, `500 changes in one burst made ${published} publishes`);
  });

  test("the Home Assistant birth message is answered with discovery and state", async () => {
    const control = new FakeControl();
    const { log } = memoryLogger();
    const config = testConfig(broker);
    const handle = track(startMqtt({ config, control, log, version: "1", probeReports: new Subject() }));
    await eventually(() => handle.connected, "connected");
    const { topics } = handle;
    const observer = await observe([topics.discovery, topics.state, "homeassistant/status"]);
    await observer.waitFor((m) => m.topic === topics.discovery, "retained discovery");
    await observer.waitFor((m) => m.topic === topics.state, "retained state");

    const mark = observer.mark();
    await observer.publish("homeassistant/status", "offline");
    await delay(300);
    assert.equal(
      observer.messages.filter((m) => m.seq > mark && m.topic !== "homeassistant/status").length,
      0,
      "HA going offline must not trigger a republish",
    );
    await observer.publish("homeassistant/status", "online");
    const again = await observer.waitFor(
      (m) => m.seq > mark && m.topic === topics.discovery,
      "discovery again",
    );
    assert.equal(again.retain, false, "a live republish, not the old retained copy");
    const state = await observer.waitFor((m) => m.seq > mark && m.topic === topics.state, "state again");
    assert.equal(json(state).phase, "serving");

    // Someone repeating the birth message in a loop gets at most one answer per interval, not a flood.
    const floodMark = observer.mark();
    for (let i = 0; i < 30; i++) await observer.publish("homeassistant/status", "online");
    await delay(2500);
    const answers = observer.messages.filter((m) => m.seq > floodMark && m.topic === topics.discovery).length;
    assert.ok(answers >= 1 && answers <= 2, `30 birth messages were answered ${answers} times`);
  });

  test("a clean stop publishes offline, retained", async () => {
    const control = new FakeControl();
    const { log } = memoryLogger();
    const config = testConfig(broker);
    const handle = startMqtt({ config, control, log, version: "1", probeReports: new Subject() });
    await eventually(() => handle.connected, "connected");
    const observer = await observe([handle.topics.availability]);
    await observer.waitFor((m) => m.payload === "online", "online");
    const started = Date.now();
    await handle.stop();
    assert.ok(Date.now() - started < 3000, "stop took too long");
    await observer.waitFor((m) => m.payload === "offline", "offline");
    const newcomer = await observe([handle.topics.availability]);
    const retained = await newcomer.waitFor(() => true, "retained availability");
    assert.equal(retained.payload, "offline");
    assert.equal(retained.retain, true);
    assert.equal(handle.connected, false);
  });

  test("removeDiscovery clears the retained discovery and state", async () => {
    const control = new FakeControl();
    const { log } = memoryLogger();
    const config = testConfig(broker);
    const handle = track(startMqtt({ config, control, log, version: "1", probeReports: new Subject() }));
    await eventually(() => handle.connected, "connected");
    const { topics } = handle;
    const observer = await observe([topics.discovery]);
    await observer.waitFor((m) => m.payload.length > 0, "discovery");
    await handle.removeDiscovery();
    await observer.waitFor((m) => m.payload === "", "the empty discovery payload");
    const newcomer = await observe([topics.discovery, topics.state]);
    await delay(500);
    assert.equal(newcomer.messages.length, 0, "nothing retained should be left");
  });

  test("cleanupMqtt (for sixgate cleanup) clears discovery, state and availability", async () => {
    const control = new FakeControl();
    const config = testConfig(broker);
    const handle = startMqtt({
      config,
      control,
      log: memoryLogger().log,
      version: "1",
      probeReports: new Subject(),
    });
    await eventually(() => handle.connected, "connected");
    const { topics } = handle;
    const before = await observe([topics.discovery, topics.state, topics.availability]);
    await before.waitFor((m) => m.topic === topics.state, "state");
    await handle.stop();
    await cleanupMqtt({ config, log: memoryLogger().log, timeoutMs: 3000 });
    const newcomer = await observe([topics.discovery, topics.state, topics.availability]);
    await delay(500);
    assert.deepEqual(newcomer.messages, [], "nothing retained may be left");
    assert.equal(before.messages.filter((m) => m.payload === "").length, 3);
  });

  test("cleanupMqtt gives up within its timeout when there is no broker", async () => {
    const config = testConfig(broker, { url: `mqtt://127.0.0.1:${await freePort()}` });
    const started = Date.now();
    await assert.rejects(
      cleanupMqtt({ config, log: memoryLogger().log, timeoutMs: 800 }),
      /cannot reach the broker/,
    );
    assert.ok(Date.now() - started < 2000);
  });

  test("TLS: connects with the CA; refuses a server its CA did not sign unless told not to check", async () => {
    const control = new FakeControl();
    const observer = await observe(["sixgate/#"]);

    const good = testConfig(broker, { url: broker.tlsUrl, tls: { ca: broker.caFile } });
    const { log } = memoryLogger();
    const handle = track(
      startMqtt({ config: good, control, log, version: "1", probeReports: new Subject() }),
    );
    await observer.waitFor(
      (m) => m.topic === `${good.baseTopic}/availability` && m.payload === "online",
      "TLS online",
    );
    assert.ok((await broker.log()).includes(`on port ${broker.tlsPort}`));
    await handle.stop();

    const bad = testConfig(broker, { url: broker.tlsUrl, tls: { ca: broker.otherCaFile } });
    const badLog = memoryLogger();
    const refused = track(
      startMqtt({ config: bad, control, log: badLog.log, version: "1", probeReports: new Subject() }),
    );
    await eventually(() => badLog.text().includes("mqtt error"), "a TLS error in the log");
    assert.match(badLog.text(), /certificate|self.signed|unable to verify/i);
    await delay(500);
    assert.equal(refused.connected, false);
    assert.equal(observer.on(`${bad.baseTopic}/availability`).length, 0);
    await refused.stop();

    const unchecked = testConfig(broker, {
      url: broker.tlsUrl,
      tls: { ca: broker.otherCaFile, rejectUnauthorized: false },
    });
    const lax = track(
      startMqtt({
        config: unchecked,
        control,
        log: memoryLogger().log,
        version: "1",
        probeReports: new Subject(),
      }),
    );
    await observer.waitFor(
      (m) => m.topic === `${unchecked.baseTopic}/availability` && m.payload === "online",
      "online without verification",
    );
    await lax.stop();
  });

  test("a wrong password never connects and is not retried in a tight loop", async () => {
    const control = new FakeControl();
    const memory = memoryLogger();
    const config = testConfig(broker, { password: "wrong-password-123" });
    const observer = await observe([`${config.baseTopic}/#`]);
    const handle = track(
      startMqtt({
        config,
        control,
        log: memory.log,
        version: "1",
        probeReports: new Subject(),
        reconnect: FAST_RECONNECT,
      }),
    );
    await eventually(() => memory.text().includes("Not authorized"), "the refusal in the log");
    await delay(1500);
    assert.equal(handle.connected, false);
    assert.equal(observer.messages.length, 0);
    const warnings = memory.lines.filter((l) => l.includes('"level":40') && l.includes("mqtt error")).length;
    assert.equal(warnings, 1, "the same refusal should be warned about once, then logged at debug");
    const attempts = (await broker.log()).split("\n").filter((l) => l.includes("not authorised")).length;
    assert.ok(attempts >= 2 && attempts <= 12, `expected a few retries with backoff, saw ${attempts}`);
  });

  test("secrets appear in no payload and no log line", async () => {
    const control = new FakeControl();
    const memory = memoryLogger();
    const passwordFile = join(broker.dir, "mqtt-password");
    await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    const config = testConfig(broker, { password: undefined, passwordFile, username: USERNAME });
    const observer = await observe([`${config.baseTopic}/#`, "homeassistant/#"]);
    // The control echoes the password in an error: it must still not reach the broker.
    control.failures.set("reloadConfig", `cannot reload: mqtt.password "${PASSWORD}" rejected`);
    const handle = track(
      startMqtt({ config, control, log: memory.log, version: "1", probeReports: new Subject() }),
    );
    await eventually(() => handle.connected, "connected with the password file");
    await observer.publish(handle.topics.request, JSON.stringify({ id: "r1", command: "reload-config" }));
    const response = await observer.waitFor((m) => m.topic === handle.topics.response, "response");
    assert.equal(json(response).ok, false);
    memory.log.info({ config: { mqtt: config } }, "config as a careless caller might log it");
    memory.log.info(
      { mqtt: { password: PASSWORD }, options: { password: PASSWORD } },
      "more careless logging",
    );
    await handle.stop();
    for (const m of observer.messages) assert.ok(!m.payload.includes(PASSWORD), `password in ${m.topic}`);
    assert.ok(!memory.text().includes(PASSWORD), "password in the log");
    assert.ok(memory.text().includes("[redacted]"));
  });

  test("a broker that is not there slows nothing and stop returns at once", async () => {
    const control = new FakeControl();
    const { log } = memoryLogger();
    const port = await freePort();
    const config = testConfig(broker, { url: `mqtt://127.0.0.1:${port}` });
    let started = performance.now();
    const handle = startMqtt({ config, control, log, version: "1", probeReports: new Subject() });
    assert.ok(performance.now() - started < 200, "startMqtt must not wait for the broker");
    started = performance.now();
    for (let i = 0; i < 2000; i++) control.update({ reason: `r${i}` });
    const perUpdate = (performance.now() - started) / 2000;
    assert.ok(perUpdate < 1, `a status change cost ${perUpdate.toFixed(3)} ms with the broker away`);
    await delay(300);
    started = performance.now();
    await handle.stop();
    assert.ok(performance.now() - started < 500, "stop must not wait for an absent broker");
  });
});
