// Port ranges with the built agent in the lab, on each backend: `listen: 8000-8002, target: 9000-9002` makes each
// port of the range answer as its own device port. socat runs a process per port; HAProxy one frontend for the
// range, and the status still counts each port's connections.
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { cliArgv, createLabFor, runOk, waitAnswers, waitFor } from "./lab.js";

const TEST = { timeout: 120_000 };
const HAPROXY = "/usr/sbin/haproxy";
const LISTEN = [8000, 8001, 8002];
const TARGET = [9000, 9001, 9002];
const PORTS = [{ listen: "8000-8002", target: "9000-9002" }];

/** The lab with the device serving the range's target ports, the config written, `sixgate plan`'s count checked. */
async function setUp(t: Parameters<typeof createLabFor>[0], backend: "socat" | "haproxy") {
  const lab = await createLabFor(t);
  await lab.serveDevicePorts(TARGET);
  const config = await lab.writeConfig({ ports: PORTS, listener: { backend } });
  const plan = await runOk(cliArgv(lab.ns.gw, ["plan", "--config", config]), { timeoutMs: 15_000 });
  const spawns = backend === "socat" ? "3 socat processes" : "one haproxy process serves them";
  assert.match(
    plan.stdout,
    new RegExp(`^# the port mappings spawn 3 listeners \\(at most 256\\): ${spawns}$`, "m"),
  );
  const agent = lab.startAgent(config);
  await agent.waitPhase("serving", 20_000);
  return { lab, agent };
}

describe("port ranges", () => {
  it("socat: a process per port of the range, each answered by its own device port", TEST, async (t) => {
    const { lab, agent } = await setUp(t, "socat");
    for (const [i, listen] of LISTEN.entries()) await waitAnswers(lab, agent, listen, TARGET[i] ?? 0);
    assert.deepEqual(
      (await lab.socatListeners()).map((l) => l.port).sort((a, b) => a - b),
      LISTEN,
      "one socat per port",
    );
    const status = await agent.status();
    assert.deepEqual(
      status.listeners.map((l) => [l.listen, l.target, l.state]),
      LISTEN.map((listen, i) => [listen, TARGET[i], "running"]),
    );
    assert.deepEqual(status.ports, PORTS, "the status shows the range as written");
  });

  it(
    "haproxy: one frontend for the range, each port answered by its own device port and counted on its own",
    { ...TEST, skip: !statSync(HAPROXY, { throwIfNoEntry: false }) },
    async (t) => {
      const { lab, agent } = await setUp(t, "haproxy");
      for (const [i, listen] of LISTEN.entries()) await waitAnswers(lab, agent, listen, TARGET[i] ?? 0);
      assert.deepEqual(await lab.socatListeners(), [], "no socat listener");
      const cfg = readFileSync(join(lab.dir, "run", "haproxy", "haproxy.cfg"), "utf8");
      assert.equal(cfg.match(/^listen /gm)?.length, 1, `one section:\n${cfg}`);
      assert.match(cfg, new RegExp(`^    bind \\[${lab.wanAddress}\\]:8000-8002 v6only maxconn \\d+$`, "m"));
      assert.match(cfg, /^ {4}server device [\d.]+:\+1000 source /m);

      // A connection held open to 8001 only (the device's web server waits for its request): counted on 8001.
      lab.spawn("cli", ["socat", "-u", `TCP6:[${lab.wanAddress}]:8001`, "OPEN:/dev/null"], "held");
      let counts: (number | undefined)[] = [];
      await waitFor(
        async () => {
          counts = (await agent.status()).listeners.map((l) => l.connections);
          return counts.join() === "0,1,0";
        },
        { timeoutMs: 15_000, intervalMs: 250, message: () => `connections by port: ${counts.join()}` },
      );
    },
  );
});
