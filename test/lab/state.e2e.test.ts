// Operator choices with the real agent and a real Mosquitto in the lab: under a burst of dashboard commands,
// state.json is whole, says what status says, and survives a restart; set-ports stays within allowedTargets.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { LAB_BASE_TOPIC, LAB_MQTT, labRequest, startLabBroker } from "./broker.js";
import { DEFAULT_PORTS, createLabFor, waitFor } from "./lab.js";

const BURST = fileURLToPath(new URL("./fixtures/mqtt-burst.ts", import.meta.url));
const COMMANDS = ["enable", "disable", "set-ports", "reset-ports"] as const;

interface Choices {
  enabled: boolean;
  ports: { listen: number; target: number }[] | null;
}
interface Reply {
  ok: boolean;
  error?: string;
  result?: { enabled?: boolean; ports?: unknown; portsSource?: string };
}

/** 200 requests, the four operator commands mixed; port lists of different lengths, so the files differ in size. */
function burst(): { id: string; command: string; args?: { ports: Choices["ports"] } }[] {
  return Array.from({ length: 200 }, (_, i) => {
    const command = COMMANDS[(i * 7 + Math.floor(i / 4)) % 4] ?? "enable";
    if (command !== "set-ports") return { id: `r${i}`, command };
    const ports = Array.from({ length: 1 + (i % 5) }, (_, j) => ({
      listen: 8000 + i * 5 + j,
      target: j % 2 === 0 ? 80 : 23,
    }));
    return { id: `r${i}`, command, args: { ports } };
  });
}

/** A lab with a broker and an agent serving with `extra` in its config. */
async function servingWithMqtt(t: TestContext, extra: Record<string, unknown> = {}) {
  const lab = await createLabFor(t);
  await startLabBroker(lab);
  const configPath = await lab.writeConfig({ mqtt: LAB_MQTT, ...extra });
  const agent = lab.startAgent(configPath);
  await agent.waitPhase("serving", 15_000);
  return { lab, agent, configPath };
}

describe("operator choices in the lab", () => {
  it(
    "200 commands fired at once over MQTT: state.json parses, equals what status reports, and a restarted agent has it",
    { timeout: 240_000 },
    async (t) => {
      const { lab, agent } = await servingWithMqtt(t);

      const requests = burst();
      const out = await lab.execOk("gw", [process.execPath, "--import", "tsx", BURST], {
        input: JSON.stringify({ url: LAB_MQTT.url, base: LAB_BASE_TOPIC, requests }),
        timeoutMs: 150_000,
      });
      const { accepted, refused, status } = JSON.parse(out.stdout) as {
        accepted: string[];
        refused: Reply[];
        status: Reply;
      };
      // Each round the agent takes a few commands at once and answers the rest busy; the ones it took ran in the
      // order it took them, so each field ends as the last accepted command that set it left it.
      assert.deepEqual(refused, [], "nothing refused but for being busy");
      assert.equal(accepted.length, requests.length, "every command was taken in the end");
      const byId = new Map(requests.map((r) => [r.id, r]));
      let expected: Choices = { enabled: true, ports: null };
      for (const id of accepted) {
        const r = byId.get(id);
        if (r === undefined) assert.fail(`unknown id ${id}`);
        if (r.command === "enable" || r.command === "disable")
          expected = { ...expected, enabled: r.command === "enable" };
        if (r.command === "set-ports") expected = { ...expected, ports: r.args?.ports ?? null };
        if (r.command === "reset-ports") expected = { ...expected, ports: null };
      }

      const file = join(lab.dir, "state", "state.json");
      const text = await readFile(file, "utf8");
      // The one-device shorthand's choices are those of the device named "device".
      const onDisk = JSON.parse(text) as { devices: Record<string, Choices> };
      assert.deepEqual(onDisk, { devices: { device: expected } }, text);
      const saved = onDisk.devices.device;
      const reported = status.result ?? {};
      assert.equal(reported.enabled, saved.enabled, "MQTT status: enabled");
      assert.deepEqual(
        reported.portsSource === "runtime" ? reported.ports : null,
        saved.ports,
        "MQTT status: ports",
      );
      const cli = await waitFor(
        async () => {
          const s = await agent.status();
          return s.enabled === saved.enabled ? s : undefined;
        },
        { timeoutMs: 5_000, message: () => agent.tail() },
      );
      assert.deepEqual(
        cli.portsSource === "runtime" ? cli.ports : null,
        saved.ports,
        "sixgate status: ports",
      );

      agent.stop("SIGTERM");
      assert.equal((await agent.waitExit(10_000))?.code, 0);
      const again = lab.startAgent(agent.configPath);
      const back = await again.waitPhase(saved.enabled ? "serving" : "disabled", 15_000);
      assert.equal(back.enabled, saved.enabled);
      assert.deepEqual(back.portsSource === "runtime" ? back.ports : null, saved.ports, "restarted: ports");
    },
  );

  it(
    "set-ports over MQTT stays within allowedTargets; saved ports a tightened allowedTargets excludes are refused at start",
    { timeout: 120_000 },
    async (t) => {
      const { lab, agent, configPath } = await servingWithMqtt(t, { allowedTargets: [80, "20-23"] });
      const file = join(lab.dir, "state", "state.json");

      const refused = await labRequest(lab, "x1", "set-ports", {
        ports: [
          { listen: 2222, target: 22 },
          { listen: 3306, target: 3306 },
        ],
      });
      assert.equal(refused.ok, false);
      assert.equal(refused.error, "ports.1.target: port 3306 is outside allowedTargets (80, 20-23)");
      await assert.rejects(readFile(file), { code: "ENOENT" }, "nothing saved");
      assert.equal((await agent.status()).portsSource, "config");
      assert.ok((await lab.curl6(80)).answer, "port 80 still serves");

      const taken = await labRequest(lab, "x2", "set-ports", { ports: [{ listen: 8023, target: 23 }] });
      assert.equal(taken.ok, true, JSON.stringify(taken));
      await agent.waitPhase("serving", 10_000, (s) => s.listeners.map((l) => l.listen).join() === "8023");

      // The operator tightens allowedTargets and restarts: the saved 8023->23 is refused, the config's ports serve.
      agent.stop("SIGTERM");
      assert.equal((await agent.waitExit(10_000))?.code, 0);
      await lab.writeConfig({ mqtt: LAB_MQTT, allowedTargets: [80] });
      const again = lab.startAgent(configPath);
      const back = await again.waitPhase("serving", 15_000);
      assert.equal(back.portsSource, "config");
      assert.deepEqual(back.ports, DEFAULT_PORTS);
      const logged = again.logs().find((l) => l.level === 50 && /allowedTargets/.test(String(l.msg)));
      assert.match(
        String(logged?.error),
        /ports\.0\.target: port 23 is outside allowedTargets \(80\)/,
        again.tail(),
      );
      assert.ok((await lab.curl6(80)).answer, "the config file's port 80 serves");
    },
  );
});
