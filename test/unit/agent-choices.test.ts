// Operator commands (enable, disable, set-ports, reset-ports) on the agent: one at a time, each saved as it is
// applied, so commands sent back to back end with the last one's effect on the dashboard and on disk.
import assert from "node:assert/strict";
import { test } from "node:test";
import { pino } from "pino";
import { Subject } from "rxjs";
import { Agent } from "../../src/agent.js";
import type { DeviceChoices, Event } from "../../src/core/types.js";
import type { PersistedState, StateStore, StoredChoices } from "../../src/effects/state-store.js";
import { FakeAddresses, FakeFirewall, FakeListeners } from "../fakes/adapters.js";
import { twoDevices } from "./agent-harness.js";
import { makeConfig } from "./fixtures.js";

const log = pino({ level: "silent" });

/** A store whose saves take a while, like a real one on flash; it can be told to fail the next save. */
class SlowStore implements StateStore {
  saved: PersistedState = {};
  saves = 0;
  failNext = false;
  load(): Promise<StoredChoices> {
    return Promise.resolve({ devices: this.saved, legacy: undefined });
  }
  async save(state: PersistedState): Promise<void> {
    await new Promise((r) => setTimeout(r, 5));
    if (this.failNext) {
      this.failNext = false;
      throw new Error("EROFS: read-only file system");
    }
    this.saved = state;
    this.saves++;
  }
}

function setup(persisted?: PersistedState, configOverrides: Record<string, unknown> = {}) {
  const store = new SlowStore();
  const agent = new Agent({
    config: makeConfig(configOverrides),
    log,
    firewall: new FakeFirewall(),
    listeners: new FakeListeners(),
    addresses: new FakeAddresses(),
    links: new Subject<Event>(),
    leases: () => new Subject<Event>(),
    persisted,
    store,
    version: "test",
  });
  agent.start();
  return { agent, store };
}

const choices = (agent: Agent) => {
  const s = agent.status();
  return { enabled: s.enabled, ports: s.portsSource === "runtime" ? s.ports : undefined };
};

test("disable then enable, sent back to back: enabled, on the dashboard and on disk", async (t) => {
  const { agent, store } = setup();
  t.after(() => agent.stop());
  await Promise.all([agent.setEnabled(false), agent.setEnabled(true)]);
  assert.deepEqual(store.saved.device, { enabled: true, ports: undefined });
  assert.deepEqual(choices(agent), store.saved.device);
});

test("set-ports then disable, back to back: both choices are kept", async (t) => {
  const { agent, store } = setup();
  t.after(() => agent.stop());
  const ports = [{ listen: 8080, target: 80 }];
  await Promise.all([agent.setPorts(ports), agent.setEnabled(false)]);
  assert.deepEqual(store.saved.device, { enabled: false, ports });
  assert.deepEqual(choices(agent), store.saved.device);
});

test("a burst of mixed commands ends with each field as the last command that set it left it", async (t) => {
  const { agent, store } = setup({ device: { enabled: false, ports: undefined } });
  t.after(() => agent.stop());
  let expected: DeviceChoices = { enabled: false, ports: undefined };
  const work: Promise<void>[] = [];
  for (let i = 0; i < 60; i++) {
    const ports = [{ listen: 9000 + i, target: 80 }];
    const command = (["enable", "disable", "set-ports", "reset-ports"] as const)[(i * 7) % 4];
    if (command === "enable" || command === "disable") {
      work.push(agent.setEnabled(command === "enable"));
      expected = { ...expected, enabled: command === "enable" };
    } else if (command === "set-ports") {
      work.push(agent.setPorts(ports));
      expected = { ...expected, ports };
    } else {
      work.push(agent.resetPorts());
      expected = { ...expected, ports: undefined };
    }
  }
  await Promise.all(work);
  assert.equal(store.saves, 60);
  assert.deepEqual(store.saved.device, expected);
  assert.deepEqual(choices(agent), expected);
});

test("a save that fails changes nothing, and the commands after it still run", async (t) => {
  const { agent, store } = setup();
  t.after(() => agent.stop());
  store.failNext = true;
  const failed = agent.setEnabled(false);
  const next = agent.setPorts([{ listen: 8080, target: 80 }]);
  await assert.rejects(failed, /EROFS/);
  await next;
  assert.deepEqual(store.saved.device, { enabled: true, ports: [{ listen: 8080, target: 80 }] });
  assert.deepEqual(choices(agent), store.saved.device);
});

test("set-ports beyond the config file's targets is refused, naming the field and port; nothing changes", async (t) => {
  const { agent, store } = setup();
  t.after(() => agent.stop());
  await assert.rejects(
    agent.setPorts([
      { listen: 8080, target: 80 },
      { listen: 2222, target: 22 },
    ]),
    /^Error: ports\.1\.target: port 22 is not one of the config file's target ports \(80, 23\)/,
  );
  assert.equal(store.saves, 0);
  assert.deepEqual(choices(agent), { enabled: true, ports: undefined });
  await agent.setPorts([{ listen: 2300, target: 23 }]);
  assert.deepEqual(store.saved.device?.ports, [{ listen: 2300, target: 23 }]);
});

test("set-ports within allowedTargets is taken; outside it is refused and the earlier choice stays", async (t) => {
  const { agent, store } = setup(undefined, { allowedTargets: ["8000-8010"] });
  t.after(() => agent.stop());
  const ports = [{ listen: 9000, target: 8005 }];
  await agent.setPorts(ports);
  await assert.rejects(
    agent.setPorts([{ listen: 9000, target: 80 }]),
    /ports\.0\.target: port 80 is outside allowedTargets \(8000-8010\)/,
  );
  assert.deepEqual(store.saved.device, { enabled: true, ports });
  assert.deepEqual(choices(agent), store.saved.device);
});

test("several devices: a port command needs the device's name; an unknown name is refused naming the devices", async (t) => {
  const { agent, store } = setup(undefined, twoDevices);
  t.after(() => agent.stop());
  await assert.rejects(
    agent.setPorts([{ listen: 8081, target: 80 }]),
    /name the device \(one of: cam, plc\)/,
  );
  await assert.rejects(agent.resetPorts(), /name the device/);
  await assert.rejects(agent.setEnabled(false, "printer"), /no device named printer \(devices: cam, plc\)/);
  await assert.rejects(agent.probe("printer"), /no device named printer/);
  assert.equal(store.saves, 0);
  await agent.setPorts([{ listen: 8081, target: 80 }], "cam");
  assert.deepEqual(store.saved, { cam: { enabled: true, ports: [{ listen: 8081, target: 80 }] } });
});

test("several devices: disabling one leaves the other enabled; without a name every device", async (t) => {
  const { agent, store } = setup(undefined, twoDevices);
  t.after(() => agent.stop());
  await agent.setEnabled(false, "plc");
  const enabled = () => Object.fromEntries(agent.status().devices.map((d) => [d.name, d.enabled]));
  assert.deepEqual(enabled(), { cam: true, plc: false });
  assert.equal(agent.status().enabled, true);
  await agent.setEnabled(false);
  assert.deepEqual(enabled(), { cam: false, plc: false });
  assert.equal(agent.status().enabled, false);
  assert.deepEqual(store.saved, {
    cam: { enabled: false, ports: undefined },
    plc: { enabled: false, ports: undefined },
  });
});

test("several devices: set-ports may not take another device's listen port, naming it", async (t) => {
  const { agent, store } = setup(undefined, twoDevices);
  t.after(() => agent.stop());
  await assert.rejects(
    agent.setPorts([{ listen: 5020, target: 80 }], "cam"),
    /ports\.0\.listen: port 5020 is plc's listen port/,
  );
  assert.equal(store.saves, 0);
});

test("several devices: a set-ports range may not cover another device's listen port, nor pass MAX_LISTENERS", async (t) => {
  const { agent, store } = setup(undefined, { ...twoDevices, allowedTargets: ["1-65535"] });
  t.after(() => agent.stop());
  await assert.rejects(
    agent.setPorts([{ listen: "5000-5030", target: "80-110" }], "cam"),
    /ports\.0\.listen: port 5020 is plc's listen port/,
  );
  await assert.rejects(
    agent.setPorts([{ listen: "6000-6255", target: "6000-6255" }], "cam"),
    /^Error: 257 listen ports in all \(ports\.0 6000-6255 spawns 256\); at most 256, one listener each \(1 on other devices\)$/,
  );
  assert.equal(store.saves, 0);
  // One fewer fits, and is kept as written.
  await agent.setPorts([{ listen: "6000-6254", target: "6000-6254" }], "cam");
  assert.deepEqual(store.saved.cam?.ports, [{ listen: "6000-6254", target: "6000-6254" }]);
});

test("several devices with HAProxy: set-ports may not take another device's listen port, even with addresses of their own", async (t) => {
  // HAProxy names each proxy by its listen port (the config file is refused the same way, schema.ts checkDevices).
  const own = {
    device: undefined,
    ports: undefined,
    listener: { backend: "haproxy" },
    devices: [
      { name: "cam", mac: "02:00:00:00:01:00", ipv6: "own", ports: [{ listen: 8080, target: 80 }] },
      { name: "plc", address: "192.168.1.50", ipv6: "own", ports: [{ listen: 5020, target: 502 }] },
    ],
  };
  const { agent, store } = setup(undefined, { ...own, allowedTargets: [80, 502] });
  t.after(() => agent.stop());
  await assert.rejects(
    agent.setPorts([{ listen: 5020, target: 80 }], "cam"),
    /ports\.0\.listen: port 5020 is plc's listen port/,
  );
  assert.equal(store.saves, 0);
  // With socat each own address has its own ports: the same command is taken.
  const socat = setup(undefined, { ...own, listener: { backend: "socat" }, allowedTargets: [80, 502] });
  t.after(() => socat.agent.stop());
  await socat.agent.setPorts([{ listen: 5020, target: 80 }], "cam");
  assert.deepEqual(socat.store.saved.cam?.ports, [{ listen: 5020, target: 80 }]);
});
