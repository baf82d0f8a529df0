// Dashboard commands through a real Mosquitto: what a dashboard sends on <base>/request and reads on <base>/response,
// and what the agent (a fake AgentControl) was asked to do.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { Subject } from "rxjs";
import { PRESS_PAYLOADS } from "../../src/mqtt/discovery.js";
import { startMqtt, type MqttHandle } from "../../src/mqtt/index.js";
import { FakeControl, sampleReport } from "../fakes/control.js";
import { startBroker, type Broker } from "./broker.js";
import { Observer, eventually, json, type Seen } from "./observer.js";
import { memoryLogger, testConfig } from "./support.js";

let broker: Broker;
let control: FakeControl;
let handle: MqttHandle;
let observer: Observer;

before(async () => {
  broker = await startBroker();
});

after(async () => {
  await observer.close();
  await handle.stop();
  await broker.destroy();
});

async function session(commandTimeoutMs?: number): Promise<void> {
  control = new FakeControl();
  const config = testConfig(broker);
  handle = startMqtt({
    config,
    control,
    log: memoryLogger().log,
    version: "1",
    probeReports: new Subject(),
    commandTimeoutMs,
  });
  await eventually(() => handle.connected, "connected");
  observer = await Observer.connect(broker.url, [handle.topics.response, handle.topics.state]);
  await observer.waitFor((m) => m.topic === handle.topics.state, "retained state");
}

async function restart(commandTimeoutMs?: number): Promise<void> {
  await observer.close();
  await handle.stop();
  await session(commandTimeoutMs);
}

/** Sends a raw payload and returns the next response. */
async function send(payload: string | Buffer): Promise<Seen> {
  const mark = observer.mark();
  await observer.client.publishAsync(handle.topics.request, payload, { qos: 1 });
  return observer.waitFor((m) => m.seq > mark && m.topic === handle.topics.response, "a response");
}

async function request(body: Record<string, unknown>): Promise<Record<string, unknown>> {
  return json(await send(JSON.stringify(body)));
}

describe("mqtt commands", { timeout: 60000 }, () => {
  before(() => session());
  beforeEach(() => {
    control.calls.length = 0;
    control.failures.clear();
    control.delays.clear();
  });

  test("status answers with the state as published", async () => {
    const r = await request({ id: "s1", command: "status" });
    assert.equal(r.id, "s1");
    assert.equal(r.ok, true);
    const result = r.result as Record<string, unknown>;
    assert.equal(result.phase, "serving");
    assert.deepEqual(result.ports, control.status().ports);
    assert.equal(control.calls.length, 0, "status asks the agent for nothing");
  });

  test("reconcile calls the agent once and returns its report", async () => {
    const r = await request({ id: 7, command: "reconcile" });
    assert.equal(r.id, 7);
    assert.equal(r.ok, true);
    assert.equal((r.result as { ok: boolean }).ok, true);
    assert.equal(control.callsOf("reconcile").length, 1);
  });

  test("restart-listeners and reset-ports call the agent", async () => {
    for (const [command, method] of [
      ["restart-listeners", "restartListeners"],
      ["reset-ports", "resetPorts"],
    ] as const) {
      const r = await request({ id: command, command, args: {} });
      assert.deepEqual(r, { id: command, ok: true, result: {} });
      assert.equal(control.callsOf(method).length, 1, method);
    }
  });

  test("reload-config calls the agent and answers with the changes that wait for a restart", async () => {
    control.reloadReport = { restartNeeded: ["stateDir", "mqtt"] };
    const r = await request({ id: "reload", command: "reload-config" });
    assert.deepEqual(r, { id: "reload", ok: true, result: { restartNeeded: ["stateDir", "mqtt"] } });
    assert.equal(control.callsOf("reloadConfig").length, 1);
  });

  test("probe returns the report and the state shows it", async () => {
    const mark = observer.mark();
    const r = await request({ id: "p", command: "probe" });
    assert.deepEqual(r, { id: "p", ok: true, result: sampleReport });
    const state = await observer.waitFor(
      (m) => m.seq > mark && m.topic === handle.topics.state && json(m).probes !== null,
      "state with the probe report",
    );
    assert.deepEqual(json(state).probes, sampleReport);
  });

  test("disable and enable switch the proxy and the state follows", async () => {
    let mark = observer.mark();
    assert.deepEqual(await request({ id: "d", command: "disable" }), {
      id: "d",
      ok: true,
      result: { enabled: false },
    });
    assert.deepEqual(control.callsOf("setEnabled")[0]?.args, [false]);
    let state = await observer.waitFor(
      (m) => m.seq > mark && m.topic === handle.topics.state,
      "disabled state",
    );
    assert.equal(json(state).enabled, false);
    assert.equal(json(state).phase, "disabled");
    mark = observer.mark();
    assert.deepEqual(await request({ id: "e", command: "enable" }), {
      id: "e",
      ok: true,
      result: { enabled: true },
    });
    state = await observer.waitFor((m) => m.seq > mark && m.topic === handle.topics.state, "enabled state");
    assert.equal(json(state).enabled, true);
  });

  test("set-ports passes the validated mappings and the state reports them", async () => {
    const ports = [
      { listen: 8080, target: 80 },
      { listen: 443, target: 443 },
    ];
    const mark = observer.mark();
    const r = await request({ id: "sp", command: "set-ports", args: { ports } });
    assert.deepEqual(r, { id: "sp", ok: true, result: { ports } });
    assert.deepEqual(control.callsOf("setPorts")[0]?.args, [ports]);
    const state = await observer.waitFor((m) => m.seq > mark && m.topic === handle.topics.state, "state");
    assert.deepEqual(json(state).ports, ports);
    assert.equal(json(state).portsSource, "runtime");
  });

  test("the Home Assistant buttons and switch payloads are requests without an id", async () => {
    for (const [payload, method] of [
      [PRESS_PAYLOADS.reconcile, "reconcile"],
      [PRESS_PAYLOADS.restartListeners, "restartListeners"],
      [PRESS_PAYLOADS.disable, "setEnabled"],
      [PRESS_PAYLOADS.enable, "setEnabled"],
    ] as const) {
      const r = json(await send(payload));
      assert.equal(r.id, null);
      assert.equal(r.ok, true, payload);
      assert.ok(control.callsOf(method).length > 0, method);
    }
  });

  test("a failure in the agent is an error response", async () => {
    control.failures.set("reloadConfig", "invalid config /etc/sixgate.yaml: ports.0.listen: must be 1-65535");
    const r = await request({ id: "rc", command: "reload-config" });
    assert.deepEqual(r, {
      id: "rc",
      ok: false,
      error: "invalid config /etc/sixgate.yaml: ports.0.listen: must be 1-65535",
    });
  });

  const refused: [name: string, payload: string | Buffer, error: RegExp, id?: string | number | null][] = [
    ["not JSON", "{", /not valid JSON/],
    ["empty", "", /empty request/],
    [
      "too large",
      JSON.stringify({ id: "big", command: "status", pad: "x".repeat(9000) }),
      /too large: \d+ bytes/,
    ],
    ["an array", "[]", /must be a JSON object/],
    ["a string", '"status"', /must be a JSON object/],
    ["binary garbage", Buffer.from([0xff, 0xfe, 0x00, 0x01]), /not valid JSON/],
    [
      "unknown command",
      '{"id":"u","command":"format-disk"}',
      /unknown command "format-disk"; known commands: status/,
      "u",
    ],
    ["no command", '{"id":"n"}', /command: is required/, "n"],
    ["command not a string", '{"id":"t","command":5}', /command: must be a string/, "t"],
    ["unknown top-level key", '{"id":"k","command":"status","force":true}', /unknown key\(s\): force/, "k"],
    [
      "arguments to a command that takes none",
      '{"command":"reconcile","args":{"all":true}}',
      /args: unknown key\(s\): all .*takes no arguments/,
    ],
    ["args not an object", '{"command":"reconcile","args":"now"}', /args/],
    [
      "id with shell characters",
      '{"id":"a;reboot","command":"status"}',
      /id: contains shell or control characters/,
      null,
    ],
    [
      "id with a newline",
      '{"id":"a\\nb","command":"status"}',
      /id: contains shell or control characters/,
      null,
    ],
    [
      "id too long",
      JSON.stringify({ id: "x".repeat(65), command: "status" }),
      /id: must be at most 64/,
      null,
    ],
    ["id of the wrong type", '{"id":{"x":1},"command":"status"}', /id/, null],
    [
      "command with shell characters",
      '{"id":"c","command":"status;reboot"}',
      /command: contains shell or control characters/,
      "c",
    ],
    ["command with $(...)", '{"id":"c2","command":"$(reboot)"}', /command: contains shell/, "c2"],
    [
      "a key with shell characters",
      '{"id":"k2","command":"set-ports","args":{"`x`":1}}',
      /key contains shell/,
      "k2",
    ],
    [
      "nested too deeply",
      '{"command":"set-ports","args":{"a":{"b":{"c":{"d":{"e":{"f":{"g":1}}}}}}}}',
      /nested too deeply/,
    ],
    ["set-ports without ports", '{"command":"set-ports","args":{}}', /args\.ports/],
    ["set-ports without args", '{"command":"set-ports"}', /args/],
    [
      "set-ports port 0",
      '{"command":"set-ports","args":{"ports":[{"listen":0,"target":80}]}}',
      /args\.ports\.0\.listen: must be 1-65535/,
    ],
    [
      "set-ports port too high",
      '{"command":"set-ports","args":{"ports":[{"listen":80,"target":70000}]}}',
      /args\.ports\.0\.target: must be 1-65535/,
    ],
    [
      "set-ports fractional port",
      '{"command":"set-ports","args":{"ports":[{"listen":80.5,"target":80}]}}',
      /whole number/,
    ],
    [
      "set-ports port as a string",
      '{"command":"set-ports","args":{"ports":[{"listen":"80","target":80}]}}',
      /args\.ports\.0\.listen: .*number/,
    ],
    [
      "set-ports shell in a port",
      '{"command":"set-ports","args":{"ports":[{"listen":"80;reboot","target":80}]}}',
      /contains shell/,
    ],
    [
      "set-ports duplicate listen",
      '{"command":"set-ports","args":{"ports":[{"listen":80,"target":80},{"listen":80,"target":81}]}}',
      /port 80 is listed twice/,
    ],
    ["set-ports empty list", '{"command":"set-ports","args":{"ports":[]}}', /at least one port mapping/],
    [
      "set-ports too many",
      JSON.stringify({
        command: "set-ports",
        args: { ports: Array.from({ length: 65 }, (_, i) => ({ listen: i + 1, target: 80 })) },
      }),
      /at most 64/,
    ],
    [
      "set-ports extra key",
      '{"command":"set-ports","args":{"ports":[{"listen":80,"target":80,"proto":"udp"}]}}',
      /unknown key\(s\): proto/,
    ],
    [
      "set-ports negative",
      '{"command":"set-ports","args":{"ports":[{"listen":-1,"target":80}]}}',
      /must be 1-65535/,
    ],
  ];

  for (const [name, payload, error, id] of refused) {
    test(`refused: ${name}; nothing changes`, async () => {
      const before = JSON.stringify(control.status());
      const stateMark = observer.mark();
      const r = json(await send(payload));
      assert.equal(r.ok, false);
      assert.match(String(r.error), error);
      assert.equal(r.result, undefined);
      if (id !== undefined) assert.equal(r.id, id);
      assert.deepEqual(control.calls, [], "the agent must not have been called");
      assert.equal(JSON.stringify(control.status()), before);
      await delay(50);
      assert.equal(
        observer.messages.filter((m) => m.seq > stateMark && m.topic === handle.topics.state).length,
        0,
        "no state change may follow a refused request",
      );
    });
  }

  test("a retained request is not replayed when a session (re)subscribes", async () => {
    const config = testConfig(broker);
    const requestTopic = `${config.baseTopic}/request`;
    await observer.publish(requestTopic, JSON.stringify({ id: "ret", command: "reconcile" }), true);
    const other = new FakeControl();
    const memory = memoryLogger();
    const late = startMqtt({
      config,
      control: other,
      log: memory.log,
      version: "1",
      probeReports: new Subject(),
    });
    try {
      const watcher = await Observer.connect(broker.url, [
        `${config.baseTopic}/response`,
        `${config.baseTopic}/state`,
      ]);
      await watcher.waitFor((m) => m.topic.endsWith("/state"), "the new session's state");
      await eventually(() => memory.text().includes("ignoring a retained request"), "the warning");
      await delay(300);
      assert.equal(other.calls.length, 0);
      assert.equal(watcher.on(`${config.baseTopic}/response`).length, 0);
      await watcher.close();
    } finally {
      await observer.publish(requestTopic, "", true);
      await late.stop();
    }
  });

  test("more than four commands at once: the rest are told busy", async () => {
    control.delays.set("reconcile", 800);
    const mark = observer.mark();
    for (let i = 0; i < 6; i++) {
      await observer.client.publishAsync(
        handle.topics.request,
        JSON.stringify({ id: `b${i}`, command: "reconcile" }),
        {
          qos: 1,
        },
      );
    }
    await eventually(
      () => observer.messages.filter((m) => m.seq > mark && m.topic === handle.topics.response).length === 6,
      "six responses",
    );
    const responses = observer.messages
      .filter((m) => m.seq > mark && m.topic === handle.topics.response)
      .map(json);
    const busy = responses.filter((r) => r.ok === false);
    assert.equal(busy.length, 2);
    for (const r of busy) assert.match(String(r.error), /busy/);
    assert.equal(control.callsOf("reconcile").length, 4);
  });

  test("a command that takes too long is answered with an error", async () => {
    await restart(300);
    control.delays.set("restartListeners", 1500);
    const started = Date.now();
    const r = await request({ id: "slow", command: "restart-listeners" });
    assert.ok(Date.now() - started < 1200);
    assert.deepEqual(r, { id: "slow", ok: false, error: "restart-listeners timed out after 300 ms" });
  });
});
