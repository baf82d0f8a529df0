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
    const control = new FakeControl({
      ...sampleStatus(),
      shorthand: false,
      devices: withDevices(["cam", "printer"]),
    });
    const config = testConfig(fixture.broker);
    const handle = fixture.track(
      startMqtt({ config, control, log: memoryLogger().log, version: "1", probeReports: new Subject() }),
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

  test("a reload that switches between the shorthand and a devices list re-announces discovery in the new form", async () => {
    // The shorthand (0.1's single device, named "device"), as the agent starts with it.
    const control = new FakeControl(sampleStatus());
    const config = testConfig(fixture.broker);
    const handle = fixture.track(
      startMqtt({ config, control, log: memoryLogger().log, version: "1", probeReports: new Subject() }),
    );
    await eventually(() => handle.connected, "connected");
    const { topics } = handle;
    const [cam, printer, shorthand] = ["cam", "printer", "device"].map((n) => subDeviceTopic(topics, n));
    assert.ok(cam !== undefined && printer !== undefined && shorthand !== undefined);
    const all = [topics.discovery, cam, printer, shorthand];
    const seen = await fixture.observe(all);
    /** The components of the newest gateway config after `mark`. */
    const gatewayAfter = async (mark: number, what: string, ok: (keys: string[]) => boolean) => {
      const m = await seen.waitFor(
        (x) => x.seq > mark && x.topic === topics.discovery && ok(Object.keys(json(x).components ?? {})),
        what,
      );
      return Object.keys(json(m).components as Record<string, unknown>);
    };
    const shorthandForm = (keys: string[]) => keys.includes("reachable") && keys.includes("device_ipv4");
    await gatewayAfter(-1, "the shorthand's gateway config", shorthandForm);

    // SIGHUP with a devices list: the gateway's config without the one device's entities, one config per device.
    let mark = seen.mark();
    control.update({ shorthand: false, devices: withDevices(["cam", "printer"]) });
    await gatewayAfter(mark, "the gateway's config in the devices form", (k) => !shorthandForm(k));
    await seen.waitFor((m) => m.seq > mark && m.topic === cam && m.payload.length > 0, "cam's config");
    await seen.waitFor(
      (m) => m.seq > mark && m.topic === printer && m.payload.length > 0,
      "printer's config",
    );

    // SIGHUP back to the shorthand: 0.1's gateway config again, the LAN devices' configs cleared.
    mark = seen.mark();
    control.update({ shorthand: true, devices: withDevices(["device"]) });
    await gatewayAfter(mark, "the shorthand's gateway config again", shorthandForm);
    await seen.waitFor((m) => m.seq > mark && m.topic === cam && m.payload === "", "cam's config cleared");
    await seen.waitFor((m) => m.seq > mark && m.topic === printer && m.payload === "", "printer's cleared");
    // What a newcomer (Home Assistant restarting) finds retained: the shorthand's config alone.
    const marker = `${config.baseTopic}/marker`;
    const newcomer = await fixture.observe([...all, marker]);
    await newcomer.publish(marker, "x");
    await newcomer.waitFor((m) => m.topic === marker, "the marker");
    assert.equal(newcomer.on(cam).length + newcomer.on(printer).length, 0, "no LAN device's config retained");
    assert.equal(newcomer.on(shorthand).length, 0, "the shorthand's device is no config of its own");
    const retained = newcomer.on(topics.discovery);
    assert.equal(retained.length, 1);
    assert.ok(shorthandForm(Object.keys(json(retained[0]).components as Record<string, unknown>)));
  });
});
