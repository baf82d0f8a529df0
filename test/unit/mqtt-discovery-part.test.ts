// The discovery part over a recording connection: which retained configs it publishes on connect and when a reload
// adds or removes LAN devices (their configs are cleared), and what the removal clears.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { pino } from "pino";
import type { Connection } from "../../src/mqtt/connection.js";
import { startDiscovery, type DiscoveryPayloads } from "../../src/mqtt/ha-discovery.js";
import type { StatePart } from "../../src/mqtt/state-publisher.js";
import { subDeviceTopic, topicsFor } from "../../src/mqtt/topics.js";
import { FakeControl, sampleStatus } from "../fakes/control.js";

const topics = topicsFor({ baseTopic: "sixgate/gw1", discoveryPrefix: "homeassistant" });
const log = pino({ level: "silent" });

function withDevices(names: string[]) {
  const status = sampleStatus();
  const [first] = status.devices;
  assert.ok(first);
  return names.map((name) => ({ ...first, name }));
}

/** A connection that is always up and records every publish as `topic payload`. */
function recordingConnection(): { connection: Connection; sent: string[] } {
  const sent: string[] = [];
  const record = (topic: string, payload: string) => sent.push(`${topic} ${payload}`);
  const connection = {
    client: {
      connected: true,
      publishAsync: (topic: string, payload: string) => Promise.resolve(record(topic, payload)),
    },
    publisher: { publish: record },
    stopping: false,
  } as unknown as Connection;
  return { connection, sent };
}

const state = { republish: () => undefined } as unknown as StatePart;
const device = (name: string, payload: string) => `${subDeviceTopic(topics, name)} ${payload}`;

/** Payloads that say what they are: GATEWAY (a devices list), GATEWAY(shorthand[, named]) and CONFIG(<name>). */
const payloads: DiscoveryPayloads = {
  gateway: (form) => (form.perDevice ? "GATEWAY" : `GATEWAY(shorthand${form.deviceName ? ", named" : ""})`),
  device: (name) => `CONFIG(${name})`,
};

/** The discovery part with a devices list of cam and printer, recording what it sends. */
function startWithCamAndPrinter() {
  const control = new FakeControl({
    ...sampleStatus(),
    shorthand: false,
    devices: withDevices(["cam", "printer"]),
  });
  const { connection, sent } = recordingConnection();
  const part = startDiscovery({ connection, topics, payloads, control, state, log });
  return { control, sent, part };
}

describe("discovery part", () => {
  test("a devices list: one config per LAN device; a reload announces the added and clears the removed", () => {
    const { control, sent, part } = startWithCamAndPrinter();
    part.onConnect?.();
    assert.deepEqual(sent.splice(0), [
      `${topics.discovery} GATEWAY`,
      device("cam", "CONFIG(cam)"),
      device("printer", "CONFIG(printer)"),
    ]);

    control.update({ devices: withDevices(["cam", "plc"]) });
    assert.deepEqual(sent.splice(0), [device("printer", ""), device("plc", "CONFIG(plc)")]);
    control.update({ reason: "no change of devices" });
    assert.deepEqual(sent.splice(0), [], "nothing while the devices stay the same");

    // A reconnect announces what is there and clears the removed again (the broker may have missed it).
    part.onConnect?.();
    assert.deepEqual(sent.splice(0), [
      `${topics.discovery} GATEWAY`,
      device("cam", "CONFIG(cam)"),
      device("plc", "CONFIG(plc)"),
      device("printer", ""),
    ]);

    // A device that comes back is announced and no longer cleared.
    control.update({ devices: withDevices(["cam", "plc", "printer"]) });
    assert.deepEqual(sent.splice(0), [device("printer", "CONFIG(printer)")]);
    part.onConnect?.();
    assert.ok(!sent.includes(device("printer", "")));
    sent.splice(0);
    void part.stop?.();
    control.update({ devices: withDevices(["cam"]) });
    assert.deepEqual(sent, [], "stopped: the status is no longer watched");
  });

  test("removal clears the gateway, every LAN device (removed ones too) and the state", async () => {
    const { control, sent, part } = startWithCamAndPrinter();
    control.update({ devices: withDevices(["cam"]) });
    sent.splice(0);
    await part.remove();
    assert.deepEqual(
      sent.sort(),
      [`${topics.discovery} `, `${topics.state} `, device("cam", ""), device("printer", "")].sort(),
    );
  });

  test("the one-device shorthand: the gateway's config only, whatever the status says of its devices", () => {
    const control = new FakeControl({ ...sampleStatus(), devices: withDevices(["device"]) });
    const { connection, sent } = recordingConnection();
    const part = startDiscovery({ connection, topics, payloads, control, state, log });
    part.onConnect?.();
    control.update({ devices: withDevices(["device", "cam"]) });
    assert.deepEqual(sent, [`${topics.discovery} GATEWAY(shorthand)`]);
  });

  test("a reload switching between the shorthand and a devices list: the gateway's config in the new form, the LAN devices announced or cleared", () => {
    const named = (name: string, hostname: string | null) =>
      withDevices([name]).map((d) => ({ ...d, hostname }));
    const control = new FakeControl({ ...sampleStatus(), devices: named("device", null) });
    const { connection, sent } = recordingConnection();
    const part = startDiscovery({ connection, topics, payloads, control, state, log });
    part.onConnect?.();
    assert.deepEqual(sent.splice(0), [`${topics.discovery} GATEWAY(shorthand)`]);

    control.update({ shorthand: false, devices: withDevices(["cam", "printer"]) });
    assert.deepEqual(sent.splice(0), [
      `${topics.discovery} GATEWAY`,
      device("cam", "CONFIG(cam)"),
      device("printer", "CONFIG(printer)"),
    ]);

    // Back to the shorthand, its device now with a DNS name: 0.1's config with the name entities; cam and printer go.
    control.update({ shorthand: true, devices: named("device", "device.example.net") });
    assert.deepEqual(sent.splice(0), [
      `${topics.discovery} GATEWAY(shorthand, named)`,
      device("cam", ""),
      device("printer", ""),
    ]);
    // A reconnect: the gateway in the form in force, the LAN devices' configs cleared again.
    part.onConnect?.();
    assert.deepEqual(sent.splice(0), [
      `${topics.discovery} GATEWAY(shorthand, named)`,
      device("cam", ""),
      device("printer", ""),
    ]);
    // A devices list whose one device is named "device", like the shorthand's: still a change of form.
    control.update({ shorthand: false, devices: named("device", "device.example.net") });
    assert.deepEqual(sent.splice(0), [`${topics.discovery} GATEWAY`, device("device", "CONFIG(device)")]);
    void part.stop?.();
  });
});
