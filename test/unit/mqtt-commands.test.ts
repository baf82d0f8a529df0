// Request validation as a table (pure), and what each command asks of the agent.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  COMMANDS,
  MAX_REQUEST_BYTES,
  executeCommand,
  hasUnsafeCharacters,
  parseRequest,
  type Command,
} from "../../src/mqtt/commands.js";
import { FakeControl, sampleReport, sampleStatus } from "../fakes/control.js";

/** A control with these devices whose calls are recorded with every argument given. */
function devicesControl(names: string[]): { control: FakeControl; calls: unknown[][] } {
  const status = sampleStatus();
  const [first] = status.devices;
  assert.ok(first);
  const control = new FakeControl({ ...status, devices: names.map((name) => ({ ...first, name })) });
  const calls: unknown[][] = [];
  const methods = ["probe", "setEnabled", "setPorts", "resetPorts", "reconcile", "reloadConfig"] as const;
  for (const method of methods) {
    const original = control[method].bind(control) as (...args: unknown[]) => Promise<unknown>;
    (control as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      calls.push([method, ...args]);
      return original(...args);
    };
  }
  return { control, calls };
}

const accepted: [payload: string, id: string | number | null, command: Command][] = [
  ['{"id":"1","command":"status"}', "1", { name: "status" }],
  ['{"id":2,"command":"reconcile"}', 2, { name: "reconcile" }],
  ['{"command":"restart-listeners"}', null, { name: "restart-listeners" }],
  ['{"id":"a-b_c.d:e","command":"probe","args":{}}', "a-b_c.d:e", { name: "probe" }],
  ['{"id":"e","command":"enable"}', "e", { name: "enable" }],
  ['{"id":"d","command":"disable"}', "d", { name: "disable" }],
  ['{"id":"r","command":"reload-config"}', "r", { name: "reload-config" }],
  ['{"id":"x","command":"reset-ports"}', "x", { name: "reset-ports" }],
  [
    '{"id":"p","command":"set-ports","args":{"ports":[{"listen":80,"target":8080},{"listen":2323,"target":23}]}}',
    "p",
    {
      name: "set-ports",
      ports: [
        { listen: 80, target: 8080 },
        { listen: 2323, target: 23 },
      ],
    },
  ],
  ['  {"id":"ws","command":"status"}\n', "ws", { name: "status" }],
  // Commands that concern one device take its name; agent-wide ones do not (below).
  ['{"id":"e","command":"enable","args":{"device":"cam"}}', "e", { name: "enable", device: "cam" }],
  ['{"id":"d","command":"disable","args":{"device":"cam-2"}}', "d", { name: "disable", device: "cam-2" }],
  ['{"id":"p","command":"probe","args":{"device":"plc_1"}}', "p", { name: "probe", device: "plc_1" }],
  ['{"id":"x","command":"reset-ports","args":{"device":"cam"}}', "x", { name: "reset-ports", device: "cam" }],
  [
    '{"id":"s","command":"set-ports","args":{"device":"cam","ports":[{"listen":8554,"target":554}]}}',
    "s",
    { name: "set-ports", device: "cam", ports: [{ listen: 8554, target: 554 }] },
  ],
  // A range, as in the config file: kept as written.
  [
    '{"id":"r","command":"set-ports","args":{"ports":[{"listen":"8000-8010","target":"9000-9010"}]}}',
    "r",
    { name: "set-ports", ports: [{ listen: "8000-8010", target: "9000-9010" }] },
  ],
];

const refused: [payload: string, error: RegExp, id: string | number | null][] = [
  ["", /^empty request/, null],
  ["   ", /^empty request/, null],
  ["{", /^request is not valid JSON$/, null],
  ["null", /must be a JSON object/, null],
  ["42", /must be a JSON object/, null],
  ['["status"]', /must be a JSON object/, null],
  ['{"id":"z","command":"reboot"}', /^unknown command "reboot"; known commands: status, reconcile, /, "z"],
  ['{"id":"z","command":"Status"}', /^unknown command "Status"/, "z"],
  ['{"id":"z","command":""}', /^unknown command ""/, "z"],
  ['{"id":"z"}', /^command: is required$/, "z"],
  ['{"id":"z","command":null}', /^command: must be a string$/, "z"],
  ['{"id":"z","command":["status"]}', /^command: must be a string$/, "z"],
  ['{"id":"z","command":"status","extra":1}', /unknown key\(s\): extra/, "z"],
  [
    '{"id":"z","command":"status","args":{"verbose":true}}',
    /^args: unknown key\(s\): verbose \(status takes no arguments\)$/,
    "z",
  ],
  ['{"id":"z","command":"status","args":[]}', /^args: /, "z"],
  ['{"id":"","command":"status"}', /^id: must not be empty$/, null],
  ['{"id":-1,"command":"status"}', /^id: /, null],
  ['{"id":1.5,"command":"status"}', /^id: /, null],
  ['{"id":true,"command":"status"}', /^id: /, null],
  ['{"id":"rm -rf /;","command":"status"}', /^id: contains shell or control characters$/, null],
  ['{"id":"$(id)","command":"status"}', /^id: contains shell or control characters$/, null],
  ['{"id":"a`b`","command":"status"}', /^id: contains shell or control characters$/, null],
  ['{"id":"a|b","command":"status"}', /^id: contains shell or control characters$/, null],
  ['{"id":"a\\u0000b","command":"status"}', /^id: contains shell or control characters$/, null],
  ['{"id":"a\\u001bb","command":"status"}', /^id: contains shell or control characters$/, null],
  ['{"id":"a\\u2028b","command":"status"}', /^id: contains shell or control characters$/, null],
  ['{"id":"q","command":"status && reboot"}', /^command: contains shell or control characters$/, "q"],
  ['{"id":"q","command":"status\\nreboot"}', /^command: contains shell or control characters$/, "q"],
  [
    '{"id":"q","command":"set-ports","args":{"ports":[{"listen":80,"target":80,"note":"a>b"}]}}',
    /^args\.ports\.0\.note: contains shell/,
    "q",
  ],
  ['{"id":"q","command":"set-ports","args":{"a;b":1}}', /^args: a key contains shell/, "q"],
  ['{"id":"q","command":"set-ports","args":{"ports":[[[[[[[1]]]]]]]}}', /nested too deeply/, "q"],
  ['{"id":"q","command":"set-ports"}', /^args: /, "q"],
  ['{"id":"q","command":"set-ports","args":{"ports":"80:80"}}', /^args\.ports: /, "q"],
  [
    '{"id":"q","command":"set-ports","args":{"ports":[{"listen":"8000-8010","target":"9000-9005"}]}}',
    /^args\.ports\.0\.target: range 9000-9005 has 6 ports, listen 8000-8010 has 11$/,
    "q",
  ],
  [
    '{"id":"q","command":"set-ports","args":{"ports":[]}}',
    /^args\.ports: needs at least one port mapping$/,
    "q",
  ],
  ['{"id":"q","command":"set-ports","args":{"ports":[{"listen":80}]}}', /^args\.ports\.0\.target: /, "q"],
  [
    '{"id":"q","command":"set-ports","args":{"ports":[{"listen":0,"target":80}]}}',
    /^args\.ports\.0\.listen: must be 1-65535$/,
    "q",
  ],
  [
    '{"id":"q","command":"set-ports","args":{"ports":[{"listen":65536,"target":80}]}}',
    /^args\.ports\.0\.listen: must be 1-65535$/,
    "q",
  ],
  [
    '{"id":"q","command":"set-ports","args":{"ports":[{"listen":80,"target":1e9}]}}',
    /^args\.ports\.0\.target: must be 1-65535$/,
    "q",
  ],
  [
    '{"id":"q","command":"set-ports","args":{"ports":[{"listen":8.5,"target":80}]}}',
    /^args\.ports\.0\.listen: must be a whole number$/,
    "q",
  ],
  [
    '{"id":"q","command":"set-ports","args":{"ports":[{"listen":"80","target":80}]}}',
    /^args\.ports\.0\.listen: .*number/,
    "q",
  ],
  [
    '{"id":"q","command":"set-ports","args":{"ports":[{"listen":null,"target":80}]}}',
    /^args\.ports\.0\.listen: /,
    "q",
  ],
  [
    '{"id":"q","command":"set-ports","args":{"ports":[{"listen":80,"target":80},{"listen":80,"target":81}]}}',
    /^args\.ports\.1\.listen: port 80 is listed twice$/,
    "q",
  ],
  [
    '{"id":"q","command":"set-ports","args":{"ports":[{"listen":80,"target":80}],"force":true}}',
    /^args: unknown key\(s\): force$/,
    "q",
  ],
  [
    '{"id":"q","command":"reconcile","args":{"device":"cam"}}',
    /^args: unknown key\(s\): device \(reconcile takes no arguments\)$/,
    "q",
  ],
  [
    '{"id":"q","command":"reload-config","args":{"device":"cam"}}',
    /^args: unknown key\(s\): device \(reload-config takes no arguments\)$/,
    "q",
  ],
  [
    '{"id":"q","command":"enable","args":{"device":"Cam"}}',
    /^args\.device: must be 1-32 of a-z 0-9 _ -/,
    "q",
  ],
  ['{"id":"q","command":"probe","args":{"device":""}}', /^args\.device: must be 1-32 of a-z 0-9 _ -/, "q"],
  ['{"id":"q","command":"probe","args":{"device":7}}', /^args\.device: /, "q"],
  [
    `{"id":"q","command":"disable","args":{"device":"${"a".repeat(33)}"}}`,
    /^args\.device: must be 1-32/,
    "q",
  ],
  ['{"id":"q","command":"enable","args":{"device":"cam;reboot"}}', /^args\.device: contains shell/, "q"],
  [
    '{"id":"q","command":"enable","args":{"device":"cam","all":true}}',
    /^args: unknown key\(s\): all \(enable takes only device\)$/,
    "q",
  ],
  ['{"id":"q","command":"set-ports","args":{"device":"cam"}}', /^args\.ports: /, "q"],
];

describe("mqtt request validation", () => {
  for (const [payload, id, command] of accepted) {
    test(`accepts ${payload.trim().slice(0, 60)}`, () => {
      const parsed = parseRequest(payload);
      assert.deepEqual(parsed, { ok: true, id, command });
    });
  }

  for (const [payload, error, id] of refused) {
    test(`refuses ${payload.slice(0, 70) || "(empty)"}`, () => {
      const parsed = parseRequest(payload);
      assert.ok(!parsed.ok);
      assert.equal(parsed.response.ok, false);
      assert.equal(parsed.response.id, id);
      assert.match(parsed.response.error ?? "", error);
      assert.equal("result" in parsed.response, false);
    });
  }

  test("refuses more than the size limit without parsing it, and accepts the limit", () => {
    const filler = (n: number) => `{"id":"big","command":"status","args":{},"x":"${"a".repeat(n)}"}`;
    const over = filler(MAX_REQUEST_BYTES);
    const parsed = parseRequest(Buffer.from(over));
    assert.ok(!parsed.ok);
    assert.match(parsed.response.error ?? "", /^request too large: \d+ bytes \(limit 8192\)$/);
    assert.equal(parsed.response.id, null);
    // At the limit the size check passes (and the unknown key is what is refused).
    const base = filler(0).length;
    const exact = filler(MAX_REQUEST_BYTES - base);
    assert.equal(Buffer.byteLength(exact), MAX_REQUEST_BYTES);
    const atLimit = parseRequest(exact);
    assert.ok(!atLimit.ok);
    assert.match(atLimit.response.error ?? "", /unknown key/);
  });

  test("the size limit counts bytes, not characters", () => {
    const emoji = "é".repeat(5000);
    const parsed = parseRequest(`{"command":"status","x":"${emoji}"}`);
    assert.ok(!parsed.ok);
    assert.match(parsed.response.error ?? "", /too large/);
  });

  test("64 port mappings are accepted, 65 are not", () => {
    const ports = (n: number) => Array.from({ length: n }, (_, i) => ({ listen: 1000 + i, target: 80 }));
    assert.ok(parseRequest(JSON.stringify({ command: "set-ports", args: { ports: ports(64) } })).ok);
    const parsed = parseRequest(JSON.stringify({ command: "set-ports", args: { ports: ports(65) } }));
    assert.ok(!parsed.ok);
    assert.match(parsed.response.error ?? "", /at most 64/);
  });

  test("unsafe characters", () => {
    for (const s of [
      "a;b",
      "a&b",
      "a|b",
      "$x",
      "`x`",
      "a>b",
      "a<b",
      "a\\b",
      "'",
      '"',
      "(",
      ")",
      "{",
      "}",
      "*",
      "?",
      "!",
      "~",
      "#",
      "^",
      "[",
      "]",
      "\n",
      "\r",
      "\t",
      "\u0000",
      "\u007f",
      "\u0085",
    ]) {
      assert.ok(hasUnsafeCharacters(s), JSON.stringify(s));
    }
    for (const s of [
      "abc",
      "a-b_c.d:e",
      "2026-01-01T00:00:00Z",
      "550e8400-e29b-41d4-a716-446655440000",
      "a b",
      "é",
    ]) {
      assert.ok(!hasUnsafeCharacters(s), JSON.stringify(s));
    }
  });
});

describe("mqtt command execution", () => {
  const ctx = (control: FakeControl) => {
    const probes: unknown[] = [];
    return {
      probes,
      ctx: {
        control,
        state: () => ({ the: "state" }),
        onProbe: (r: unknown, device?: string) => probes.push(device === undefined ? r : [r, device]),
      },
    };
  };

  test("each command calls the one matching method of the agent", async () => {
    const expected: Record<string, [method: string, args: unknown[]] | null> = {
      status: null,
      reconcile: ["reconcile", []],
      "restart-listeners": ["restartListeners", []],
      probe: ["probe", []],
      enable: ["setEnabled", [true]],
      disable: ["setEnabled", [false]],
      "reload-config": ["reloadConfig", []],
      "set-ports": ["setPorts", [[{ listen: 81, target: 80 }]]],
      "reset-ports": ["resetPorts", []],
    };
    assert.deepEqual(Object.keys(expected).sort(), [...COMMANDS].sort());
    for (const name of COMMANDS) {
      const control = new FakeControl();
      const command: Command =
        name === "set-ports" ? { name, ports: [{ listen: 81, target: 80 }] } : { name };
      await executeCommand(command, ctx(control).ctx);
      const call = expected[name];
      assert.deepEqual(
        control.calls.map((c) => [c.method, c.args]),
        call === null ? [] : [call],
        name,
      );
    }
  });

  test("results", async () => {
    const control = new FakeControl();
    const { ctx: context, probes } = ctx(control);
    assert.deepEqual(await executeCommand({ name: "status" }, context), { the: "state" });
    assert.deepEqual(await executeCommand({ name: "probe" }, context), sampleReport);
    assert.deepEqual(probes, [sampleReport], "a probe report from a command reaches the state");
    assert.deepEqual(await executeCommand({ name: "disable" }, context), { enabled: false });
    assert.deepEqual(await executeCommand({ name: "reset-ports" }, context), {});
    const report = (await executeCommand({ name: "reconcile" }, context)) as { ok: boolean };
    assert.equal(report.ok, true);
  });

  test("a device command reaches the agent with its device; without one, every device (or the only one)", async () => {
    const { control, calls } = devicesControl(["cam", "printer"]);
    const { ctx: context, probes } = ctx(control);
    assert.deepEqual(await executeCommand({ name: "disable", device: "cam" }, context), {
      enabled: false,
      device: "cam",
    });
    assert.deepEqual(await executeCommand({ name: "enable" }, context), { enabled: true });
    const ports = [{ listen: 8554, target: 554 }];
    assert.deepEqual(await executeCommand({ name: "set-ports", ports, device: "printer" }, context), {
      ports,
      device: "printer",
    });
    assert.deepEqual(await executeCommand({ name: "reset-ports", device: "printer" }, context), {
      device: "printer",
    });
    await executeCommand({ name: "probe", device: "cam" }, context);
    assert.deepEqual(calls, [
      ["setEnabled", false, "cam"],
      ["setEnabled", true, undefined],
      ["setPorts", ports, "printer"],
      ["resetPorts", "printer"],
      ["probe", "cam"],
    ]);
    assert.deepEqual(probes, [[sampleReport, "cam"]], "the state learns whose probe it was");
  });

  test("an unknown device, or none where several need a name, is refused before the agent is asked", async () => {
    const { control, calls } = devicesControl(["cam", "printer"]);
    const { ctx: context } = ctx(control);
    const refusals: [Command, RegExp][] = [
      [
        { name: "enable", device: "camera" },
        /: args\.device: no device named "camera" \(devices: cam, printer\)$/,
      ],
      [{ name: "disable", device: "x" }, /: args\.device: no device named "x"/],
      [{ name: "probe", device: "x" }, /: args\.device: no device named "x"/],
      [{ name: "reset-ports", device: "x" }, /: args\.device: no device named "x"/],
      [
        { name: "set-ports", ports: [{ listen: 1, target: 1 }], device: "x" },
        /: args\.device: no device named "x"/,
      ],
      [
        { name: "set-ports", ports: [{ listen: 1, target: 1 }] },
        /: args\.device: set-ports needs the device's name \(devices: cam, printer\)$/,
      ],
      [{ name: "reset-ports" }, /: args\.device: reset-ports needs the device's name/],
    ];
    for (const [command, error] of refusals) await assert.rejects(executeCommand(command, context), error);
    assert.deepEqual(calls, [], "nothing reached the agent");
    assert.deepEqual(
      control.status().devices.map((d) => [d.name, d.enabled]),
      [
        ["cam", true],
        ["printer", true],
      ],
    );

    // One device: set-ports and reset-ports need no name.
    const single = devicesControl(["cam"]);
    await executeCommand({ name: "reset-ports" }, ctx(single.control).ctx);
    assert.deepEqual(single.calls, [["resetPorts", undefined]]);
  });

  test("a rejection of the agent propagates with its message", async () => {
    const control = new FakeControl();
    control.failures.set("setPorts", "ports.0.listen: port 22 is in use");
    await assert.rejects(
      executeCommand({ name: "set-ports", ports: [{ listen: 22, target: 22 }] }, ctx(control).ctx),
      /port 22 is in use/,
    );
  });
});
