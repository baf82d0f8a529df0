// Several LAN devices through a real Mosquitto: one retained Home Assistant config per device next to the
// gateway's, a device removed at a reload cleared from the broker, per-device state, and device commands.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Subject } from "rxjs";
import { startMqtt } from "../../src/mqtt/index.js";
import { subDeviceTopic } from "../../src/mqtt/topics.js";
import { FakeControl, sampleStatus } from "../fakes/control.js";
import { eventually, json } from "./observer.js";
import { memoryLogger, testConfig, useBroker } from "./support.js";

const fixture = useBroker();

function withDevices(names: string[]) {
  const [first] = sampleStatus().devices;
  assert.ok(first);
  return names.map((name) => ({ ...first, name }));
}

describe("several devices over mqtt", { timeout: 60000 }, () => {
  test("a config per LAN device, the removed one cleared at a reload; per-device state and commands", async () => {
    const control = new FakeControl({ ...sampleStatus(), devices: withDevices(["cam", "printer"]) });
    const config = testConfig(fixture.broker);
    const handle = fixture.track(
      startMqtt({
        config,
        control,
        log: memoryLogger().log,
        version: "1",
        probeReports: new Subject(),
        shorthand: false,
      }),
    );
    await eventually(() => handle.connected, "connected");
    const { topics } = handle;
    const cam = subDeviceTopic(topics, "cam");
    const printer = subDeviceTopic(topics, "printer");
    const all = [topics.discovery, cam, printer, topics.state, topics.response];
    const first = await fixture.observe(all);
    /** A new observer of every topic, once the broker has sent it all it retains (a marker published after). */
    const retainedNow = async () => {
      const marker = `${config.baseTopic}/marker`;
      const observer = await fixture.observe([...all, marker]);
      await observer.publish(marker, "x");
      await observer.waitFor((m) => m.topic === marker, "the marker");
      return observer;
    };
    const camConfig = json(await first.waitFor((m) => m.topic === cam && m.retain, "cam's config"));
    assert.equal((camConfig.device as { via_device?: string }).via_device, topics.deviceId);
    await first.waitFor((m) => m.topic === printer && m.payload.length > 0, "printer's config");
    const state = json(await first.waitFor((m) => m.topic === topics.state, "state"));
    assert.deepEqual(Object.keys(state.devices as object), ["cam", "printer"]);

    // A reload that removes the printer: its retained config goes; a newcomer sees cam's only.
    control.update({ devices: withDevices(["cam"]) });
    await first.waitFor((m) => m.topic === printer && m.payload === "", "printer's config cleared");
    const newcomer = await retainedNow();
    assert.equal(newcomer.on(cam).length, 1, "cam's config, retained");
    assert.equal(newcomer.on(printer).length, 0, "nothing retained for the removed device");

    // Device commands: a known device reaches the agent, an unknown one is refused naming the devices.
    const ask = async (body: object) => {
      const mark = first.mark();
      await first.publish(topics.request, JSON.stringify(body));
      return json(await first.waitFor((m) => m.seq > mark && m.topic === topics.response, "a response"));
    };
    const refused = await ask({ id: "x", command: "disable", args: { device: "printer" } });
    assert.deepEqual(refused, {
      id: "x",
      ok: false,
      error: 'args.device: no device named "printer" (devices: cam)',
    });
    assert.equal(control.callsOf("setEnabled").length, 0, "nothing reached the agent");
    const done = await ask({ id: "d", command: "disable", args: { device: "cam" } });
    assert.deepEqual(done, { id: "d", ok: true, result: { enabled: false, device: "cam" } });
    assert.equal(control.callsOf("setEnabled").length, 1);

    await handle.removeDiscovery();
    const after = await retainedNow();
    assert.equal(after.on(topics.state).length, 0, "the state removed");
    assert.equal(after.on(cam).length, 0, "cam's config removed");
    assert.equal(after.on(topics.discovery).length, 0, "the gateway's config removed");
  });
});
