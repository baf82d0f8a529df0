// The agent with a real Mosquitto, both in the lab's gateway namespace (the broker on that namespace's
// loopback): health on the state topic, a dashboard command that changes what a client sees, the last will.
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import {
  LAB_BASE_TOPIC as BASE,
  LAB_MQTT,
  labRequest as request,
  labState as state,
  retained,
  startLabBroker,
} from "./broker.js";
import { checkOf, runDoctor } from "./doctor-helpers.js";
import { AGENT_CLI, createLabFor, waitFor } from "./lab.js";

const TEST = { timeout: 90_000 };

async function startWithMqtt(t: TestContext) {
  const lab = await createLabFor(t);
  await startLabBroker(lab);
  const config = await lab.writeConfig({
    mqtt: LAB_MQTT,
    health: { schedule: "*/2 * * * * *" },
  });
  const agent = lab.startAgent(config);
  await agent.waitPhase("serving", 15_000);
  return { lab, agent };
}

describe("sixgate agent with MQTT", () => {
  it("publishes availability and serving state, with probe results from the health tick", TEST, async (t) => {
    const { lab, agent } = await startWithMqtt(t);
    await waitFor(async () => (await retained(lab, `${BASE}/availability`)) === "online", {
      timeoutMs: 10_000,
    });
    const s = await waitFor(
      async () => {
        const st = await state(lab);
        const probes = st?.probes as { ok?: boolean } | null | undefined;
        return st?.phase === "serving" && probes?.ok === true ? st : undefined;
      },
      { timeoutMs: 15_000, message: () => agent.tail() },
    );
    assert.equal((s.wan as { address?: string }).address, lab.wanAddress);
    assert.equal((await agent.status()).phase, "serving");
    // doctor reads the broker connection from the running agent.
    const { report } = await runDoctor(lab, agent.configPath);
    const mqttCheck = checkOf(report, "mqtt");
    assert.equal(mqttCheck.status, "ok", JSON.stringify(mqttCheck));
    assert.match(mqttCheck.detail, /connected to mqtt:\/\/127\.0\.0\.1:1883/);
  });

  it(
    "set-ports from the dashboard changes what a client reaches; a bad request changes nothing; both outlive a restart",
    TEST,
    async (t) => {
      const { lab, agent } = await startWithMqtt(t);
      const bad = await request(lab, "b1", "set-ports", { ports: [{ listen: 70000, target: 80 }] });
      assert.equal(bad.ok, false);
      assert.match(String(bad.error), /listen/);
      assert.ok((await lab.curl6(80)).answer, "port 80 still serves after a refused request");

      const good = await request(lab, "g1", "set-ports", { ports: [{ listen: 8080, target: 80 }] });
      assert.equal(good.ok, true, JSON.stringify(good));
      const answer = await waitFor(async () => (await lab.curl6(8080)).answer, {
        timeoutMs: 5_000,
        message: () => agent.tail(),
      });
      assert.equal(answer.port, 80);
      await waitFor(
        async () => !(await lab.curl6(80, lab.wanAddress, { connectTimeoutS: 1, maxTimeS: 2 })).ok,
        {
          timeoutMs: 5_000,
        },
      );

      const disabled = await request(lab, "d1", "disable");
      assert.equal(disabled.ok, true);
      await agent.waitPhase("disabled", 5_000);
      assert.equal((await lab.curl6(8080, lab.wanAddress, { connectTimeoutS: 1, maxTimeS: 2 })).ok, false);
      assert.ok(!(await lab.nftTables()).includes("table ip sixgate"), "no SNAT while disabled");

      // Both choices outlive the agent: killed and started again, it stays disabled, and enable serves 8080.
      agent.stop("SIGKILL");
      await agent.waitExit(5_000);
      const again = lab.startAgent(agent.configPath);
      await again.waitPhase("disabled", 15_000);
      await waitFor(async () => (await retained(lab, `${BASE}/availability`)) === "online", {
        timeoutMs: 10_000,
      });
      assert.equal((await request(lab, "e1", "enable")).ok, true);
      await again.waitPhase("serving", 10_000);
      const restored = await waitFor(async () => (await lab.curl6(8080)).answer, {
        timeoutMs: 5_000,
        message: () => again.tail(),
      });
      assert.equal(restored.port, 80);
      assert.equal((await lab.curl6(80, lab.wanAddress, { connectTimeoutS: 1, maxTimeS: 2 })).ok, false);
    },
  );

  it("the broker announces the last will when the agent is killed", TEST, async (t) => {
    const { lab, agent } = await startWithMqtt(t);
    await waitFor(async () => (await retained(lab, `${BASE}/availability`)) === "online", {
      timeoutMs: 10_000,
    });
    agent.stop("SIGKILL");
    await agent.waitExit(5_000);
    // The broker notices the dead connection within 1.5 keepalives (5 s).
    await waitFor(async () => (await retained(lab, `${BASE}/availability`)) === "offline", {
      timeoutMs: 15_000,
      intervalMs: 500,
    });
  });

  it(
    "cleanup --keep-mqtt keeps Home Assistant's device; a plain cleanup clears every retained message",
    TEST,
    async (t) => {
      const { lab, agent } = await startWithMqtt(t);
      const discovery = "homeassistant/device/+/config";
      await waitFor(async () => (await retained(lab, discovery)) !== undefined, { timeoutMs: 10_000 });
      agent.stop("SIGTERM");
      await agent.waitExit(5_000);
      assert.equal(await retained(lab, `${BASE}/availability`), "offline");
      const cleanup = (extra: string[]) =>
        lab.execOk("gw", [process.execPath, AGENT_CLI, "cleanup", "--config", agent.configPath, ...extra]);
      await cleanup(["--keep-mqtt"]);
      assert.notEqual(await retained(lab, discovery), undefined, "discovery kept");
      await cleanup([]);
      assert.equal(await retained(lab, discovery), undefined, "discovery removed");
      assert.equal(await retained(lab, `${BASE}/state`), undefined, "state removed");
    },
  );
});
