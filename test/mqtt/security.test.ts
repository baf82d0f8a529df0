// Read-only on MQTT (no command topic, no command entities), and secrets read from files that never reach a log
// line, a published payload or the status view, whatever the agent or a careless caller does with them.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Subject } from "rxjs";
import { startMqtt } from "../../src/mqtt/index.js";
import { FakeControl } from "../fakes/control.js";
import { PASSWORD, USERNAME } from "./broker.js";
import { eventually, json } from "./observer.js";
import { memoryLogger, testConfig, useBroker } from "./support.js";

const fixture = useBroker();
const { observe, track } = fixture;

describe("mqtt security", { timeout: 60000 }, () => {
  test("readOnly: state and discovery only; a request is never subscribed to, answered or run", async () => {
    const { broker } = fixture;
    const control = new FakeControl();
    const config = testConfig(broker, { readOnly: true });
    const handle = track(
      startMqtt({ config, control, log: memoryLogger().log, version: "1", probeReports: new Subject() }),
    );
    const { topics } = handle;
    const observer = await observe([topics.state, topics.discovery, topics.response]);
    const discovery = json(await observer.waitFor((m) => m.topic === topics.discovery, "discovery"));
    await observer.waitFor((m) => m.topic === topics.state, "state");

    const components = Object.values(discovery.components as Record<string, Record<string, unknown>>);
    assert.ok(components.length > 0);
    for (const component of components) {
      assert.ok(["sensor", "binary_sensor"].includes(String(component.platform)), String(component.name));
      assert.equal("command_topic" in component, false, `${String(component.name)} sends commands`);
    }
    assert.ok(!JSON.stringify(discovery).includes(topics.request), "the request topic is announced");

    await observer.publish(topics.request, JSON.stringify({ id: "ro", command: "disable" }));
    // A birth message after the request: its answer (discovery again) proves the session has read past it.
    const mark = observer.mark();
    await observer.publish("homeassistant/status", "online");
    await observer.waitFor((m) => m.seq > mark && m.topic === topics.discovery, "discovery after the birth");
    assert.equal(observer.on(topics.response).length, 0, "a read-only agent answered a request");
    assert.deepEqual(control.calls, []);
    const subscribed = (await broker.log()).split("\n").filter((l) => l.includes(`\t${topics.request} `));
    assert.deepEqual(subscribed, [], "a read-only agent subscribed to its request topic");
    assert.equal(handle.view().readOnly, true);
  });

  test("secrets from files (password, TLS key) appear in no log line, payload or status view", async () => {
    const { broker } = fixture;
    const control = new FakeControl();
    const memory = memoryLogger();
    const passwordFile = join(broker.dir, "mqtt-password-security");
    await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    // The broker's own key pair stands in for a client certificate: what matters is that its key is read.
    const keyFile = join(broker.dir, "server.key");
    const keyLines = (await readFile(keyFile, "utf8")).split("\n").filter((l) => l.length > 40);
    const keySecret = keyLines[3];
    assert.ok(keySecret !== undefined, "a line of the key to look for");
    const config = testConfig(broker, {
      url: broker.tlsUrl,
      username: USERNAME,
      password: undefined,
      passwordFile,
      tls: { ca: broker.caFile, cert: join(broker.dir, "server.crt"), key: keyFile },
    });
    const observer = await observe([`${config.baseTopic}/#`, "homeassistant/#"]);
    // The agent echoes both secrets in an error: they must still not reach the broker, the log or the view.
    control.failures.set("reloadConfig", `cannot reload: "${PASSWORD}" and ${keySecret} rejected`);
    const handle = track(
      startMqtt({ config, control, log: memory.log, version: "1", probeReports: new Subject() }),
    );
    await eventually(() => handle.connected, "connected over TLS with the password file and a key file");
    await observer.publish(handle.topics.request, JSON.stringify({ id: "s1", command: "reload-config" }));
    const response = await observer.waitFor((m) => m.topic === handle.topics.response, "response");
    assert.equal(json(response).ok, false);
    await observer.waitFor((m) => m.topic === handle.topics.state, "the retained state");
    const view = JSON.stringify(handle.view());
    await handle.stop();

    for (const secret of [PASSWORD, keySecret]) {
      for (const m of observer.messages) assert.ok(!m.payload.includes(secret), `a secret in ${m.topic}`);
      assert.ok(!memory.text().includes(secret), "a secret in the log");
      assert.ok(!view.includes(secret), "a secret in the status view");
    }
    assert.match(view, /"connected":true/);
    assert.match(memory.text(), /\[redacted\]/, "the scrubbed error is still logged");
  });
});
