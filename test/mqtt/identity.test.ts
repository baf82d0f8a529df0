// Two gateways with one identity on one broker (fault 12): each sees the other's state on its base topic, logs it
// loudly and shows it in status; its own predecessor's retained state is not taken for an intruder.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type MqttHandle } from "../../src/mqtt/index.js";
import { topicHostname } from "../../src/mqtt/config.js";
import { FakeControl } from "../fakes/control.js";
import { eventually } from "./observer.js";
import {
  startTestSession,
  memoryLogger,
  testConfig,
  uniqueBase,
  useBroker,
  type MemoryLog,
} from "./support.js";
import type { MqttConfig } from "../../src/mqtt/index.js";

const fixture = useBroker();
const { observe, track } = fixture;

function start(config: MqttConfig, memory: MemoryLog, control = new FakeControl()): MqttHandle {
  return track(startTestSession(config, memory.log, control));
}

const intruderLines = (memory: MemoryLog) =>
  memory.lines.filter((l) => l.includes("ANOTHER GATEWAY PUBLISHES ON OUR BASE TOPIC"));

describe("mqtt identity on a shared broker", { timeout: 60000 }, () => {
  test("two agents on one base topic: both log an error once and show the other in status", async () => {
    const { broker } = fixture;
    const config = testConfig(broker);
    const memoryA = memoryLogger();
    const memoryB = memoryLogger();
    const controlA = new FakeControl();
    const controlB = new FakeControl();
    const a = start(config, memoryA, controlA);
    await eventually(() => a.connected, "the first agent connected");
    const b = start(config, memoryB, controlB);
    await eventually(() => b.connected, "the second agent connected");
    // Each publishes on its next change (a health tick, in the agent); each hears the other.
    controlA.update({ reason: "a ticks" });
    controlB.update({ reason: "b ticks" });
    await eventually(
      () => a.view().conflict !== null && b.view().conflict !== null,
      "both to notice the other",
      10000,
    );
    assert.match(a.view().conflict ?? "", new RegExp(`another publisher on ${config.baseTopic}/state`));
    assert.equal(intruderLines(memoryA).length, 1);
    assert.match(intruderLines(memoryA)[0] ?? "", /"level":50/);
    assert.equal(intruderLines(memoryB).length, 1);
    // More of the same intruder: still one error line, not one per message.
    controlB.update({ reason: "b ticks again" });
    controlB.update({ reason: "b ticks once more" });
    const observer = await observe([a.topics.state]);
    await observer.waitFor((m) => m.payload.includes("b ticks once more"), "b's last state");
    controlA.update({ reason: "a ticks again" });
    await observer.waitFor((m) => m.payload.includes("a ticks again"), "a's last state");
    assert.equal(intruderLines(memoryA).length, 1);
  });

  test("the same machine's predecessor (a retained state of an earlier session) is no intruder", async () => {
    const { broker } = fixture;
    const config = testConfig(broker);
    const first = start(config, memoryLogger());
    await eventually(() => first.connected, "the first session connected");
    const watcher = await observe([first.topics.state]);
    await watcher.waitFor(() => true, "the first session's state");
    await first.stop();
    const memory = memoryLogger();
    const second = start(config, memory);
    await eventually(() => second.connected, "the second session connected");
    await watcher.waitFor((m) => m.seq > 0, "the second session's state");
    // Its own echo and the retained predecessor have both been seen by now.
    const late = await observe([first.topics.state]);
    await late.waitFor(() => true, "the retained state");
    assert.equal(second.view().conflict, null);
    assert.equal(intruderLines(memory).length, 0);
  });

  test("a retained state of another machine on our base topic is reported at once", async () => {
    const { broker } = fixture;
    const config = testConfig(broker);
    const other = await observe([`${uniqueBase()}/unused`]);
    await other.publish(
      `${config.baseTopic}/state`,
      JSON.stringify({ phase: "serving", instance: { machine: "0badf00d", session: "abcdef" } }),
      true,
    );
    const memory = memoryLogger();
    const handle = start(config, memory);
    await eventually(() => handle.view().conflict !== null, "the intruder noticed");
    assert.match(handle.view().conflict ?? "", /machine 0badf00d, session abcdef/);
    assert.equal(intruderLines(memory).length, 1);
  });

  test("upgrading from the 0.1 default topic: a retained message there is named in a warning", async () => {
    const { broker } = fixture;
    const legacy = `sixgate/${topicHostname()}`;
    const other = await observe([`${uniqueBase()}/unused`]);
    fixture.defer(() => other.publish(`${legacy}/availability`, "", true));
    await other.publish(`${legacy}/availability`, "offline", true);
    const memory = memoryLogger();
    // The identity as the schema defaults it now, on a base topic of this test's own.
    const handle = start({ ...testConfig(broker), identitySource: "/etc/machine-id" }, memory);
    await eventually(() => memory.text().includes("0.1 default base topic"), "the upgrade warning");
    assert.match(memory.text(), new RegExp(`"legacyBaseTopic":"${legacy}"`));
    assert.equal(handle.view().conflict, null);

    // With the base topic set explicitly (the upgrade done), no warning.
    const quiet = memoryLogger();
    const kept = start(testConfig(broker), quiet);
    await eventually(() => kept.connected, "connected");
    const watcher = await observe([kept.topics.state]);
    await watcher.waitFor(() => true, "its state");
    assert.ok(!quiet.text().includes("0.1 default base topic"));
  });
});
