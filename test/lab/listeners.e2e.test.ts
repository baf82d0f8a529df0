// Listeners against clients that misbehave: the built agent in the lab, real socat, clients in the client
// namespace that vanish without FIN or RST (their packets dropped) or just sit idle.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { describe, it, type TestContext } from "node:test";
import { createLabFor, waitFor, type AgentProcess, type Lab } from "./lab.js";
import { limitConcurrency } from "../../src/util/limit.js";

const TEST = { timeout: 120_000 };
/** A second client address: the clients that vanish use it, so the client that checks the port is not dropped. */
const VANISHING = "2001:db8:1::3";
const KEEPALIVE_SEC = 2;
/** What the agent renders (render/socat.ts): 4 probes, keepaliveSec/4 apart but at least 1 s. */
const DEAD_AFTER_SEC = KEEPALIVE_SEC + 4 * Math.max(1, Math.ceil(KEEPALIVE_SEC / 4));

async function serving(
  t: TestContext,
  listener: Record<string, number>,
): Promise<{ lab: Lab; agent: AgentProcess }> {
  const lab = await createLabFor(t);
  const config = await lab.writeConfig({ ports: [{ listen: 80, target: 80 }], listener });
  const agent = lab.startAgent(config);
  await agent.waitPhase("serving", 15_000);
  // Deprecated, so only a client that binds it uses it: the checking curl keeps the lab's client address.
  await lab.ipOk("cli", ["addr", "add", `${VANISHING}/64`, "dev", "eth0", "nodad", "preferred_lft", "0"]);
  return { lab, agent };
}

/** A client that connects from `from` to [wan]:80, sends nothing and holds the connection open. */
function idleClient(lab: Lab, from: string, name: string) {
  return lab.spawn(
    "cli",
    ["socat", "-u", `TCP6:[${lab.wanAddress}]:80,bind=[${from}]`, "OPEN:/dev/null"],
    name,
  );
}

const answers = async (lab: Lab) =>
  (await lab.curl6(80, lab.wanAddress, { connectTimeoutS: 1, maxTimeS: 2 })).answer;

describe("listeners", () => {
  it(
    "a port filled by clients that vanished serves again within keepalive plus probes; while full it is degraded",
    TEST,
    async (t) => {
      const { lab, agent } = await serving(t, { maxChildren: 2, keepaliveSec: KEEPALIVE_SEC });
      idleClient(lab, VANISHING, "vanishing-1");
      idleClient(lab, VANISHING, "vanishing-2");
      const full = await agent.waitPhase("degraded", 15_000, (s) => s.listeners[0]?.connections === 2);
      assert.match(full.reason ?? "", /full.*:80 \(2 connections\)/);
      assert.equal(await answers(lab), undefined, "a full listener answers nobody new");

      // The two clients vanish: nothing they would send arrives, and nothing reaches them (no FIN, no RST).
      await lab.execOk("cli", ["nft", "-f", "-"], {
        input: [
          "table inet sgvanish {",
          `  chain in { type filter hook input priority 0; ip6 daddr ${VANISHING} drop; }`,
          `  chain out { type filter hook output priority 0; ip6 saddr ${VANISHING} drop; }`,
          "}",
        ].join("\n"),
      });
      const dropped = performance.now();
      await waitFor(() => answers(lab), {
        timeoutMs: 25_000,
        intervalMs: 200,
        message: () => `the port never served again\n${agent.tail()}`,
      });
      const seconds = (performance.now() - dropped) / 1000;
      // The last packet was up to keepaliveSec before the drop; then the curl's own 2 s.
      assert.ok(seconds < DEAD_AFTER_SEC + 3, `served again after ${seconds.toFixed(1)} s`);
      await agent.waitPhase("serving", 15_000, (s) => s.listeners[0]?.connections === 0);
    },
  );

  it("an idle timeout ends a connection nobody uses", TEST, async (t) => {
    const { lab, agent } = await serving(t, { idleTimeoutSec: 2 });
    const started = performance.now();
    const idle = idleClient(lab, VANISHING, "idle");
    const ended = await waitFor(() => idle.exitInfo, { timeoutMs: 10_000, intervalMs: 100 });
    const seconds = (performance.now() - started) / 1000;
    // Exit 0: it was connected and socat closed the connection (a failed connect exits 1).
    assert.equal(ended.code, 0, "socat closed the connection, the client saw an orderly end");
    assert.ok(seconds >= 1.9, `ended after ${seconds.toFixed(1)} s, not by the idle timeout`);
    await agent.waitPhase("serving", 15_000, (s) => s.listeners[0]?.connections === 0);
  });

  it(
    "64 ports renumbered are all served; a SIGTERM during a 64-port reconcile exits 0 and leaves no socat",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      const ports = Array.from({ length: 64 }, (_, i) => ({ listen: 8000 + i, target: 80 }));
      const config = await lab.writeConfig({ ports });
      const agent = lab.startAgent(config);
      await agent.waitPhase("serving", 60_000);
      await lab.renumberWan("2001:db8:1::64");
      await agent.waitPhase("serving", 60_000, (s) => s.wan.address === "2001:db8:1::64");
      const curl = limitConcurrency(8);
      const served = await Promise.all(
        ports.map((p) => curl(async () => (await lab.curl6(p.listen)).answer?.port)),
      );
      assert.deepEqual(
        served,
        ports.map(() => 80),
        "every port answers at the new address",
      );

      // Another renumbering, and SIGTERM as soon as the agent is replacing listeners.
      const socatsBefore = (await lab.socatListeners()).length;
      await lab.renumberWan("2001:db8:1::65");
      await waitFor(
        async () => (await lab.socatListeners()).some((l) => l.args.some((a) => a.includes("::65]"))),
        {
          timeoutMs: 10_000,
          intervalMs: 10,
        },
      );
      agent.stop("SIGTERM");
      const exit = await agent.waitExit(10_000);
      assert.deepEqual(exit, { code: 0, signal: null }, agent.tail());
      assert.equal(socatsBefore, 64);
      const left = (await lab.processesIn("gw")).filter((p) => p.comm === "socat");
      assert.deepEqual(left, [], "no socat left behind");
    },
  );
});
