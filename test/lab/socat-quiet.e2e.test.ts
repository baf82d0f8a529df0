// sixgate's socat runs without -d (render/socat.ts): the built agent in the lab must still know when a listener is
// bound, must see nothing of connections that went well, and must still count the ones that failed.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLabFor, waitFor, type AgentProcess, type AgentStatus } from "./lab.js";

const TEST = { timeout: 120_000 };
/** A listen port whose device port nobody listens on: every connection through it fails towards the device. */
const REFUSED = 8081;

/** socat's lines about port 80 in the agent's log (the health tick's failing probes of REFUSED log theirs). */
const socatLines = (agent: AgentProcess) =>
  agent.logs().filter((l) => l.msg === "socat" && l.listen === 80).length;
const errorsOf = (s: AgentStatus) => s.listeners.find((l) => l.listen === REFUSED)?.connectionErrors ?? 0;

describe("sixgate's socat", () => {
  it(
    "serves once started, logs nothing per connection, and still counts the failed ones",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      const config = await lab.writeConfig({
        ports: [
          { listen: 80, target: 80 },
          { listen: REFUSED, target: REFUSED },
        ],
        // The status carries the error count from the next publish on: the health tick.
        health: { schedule: "*/2 * * * * *" },
      });
      const agent = lab.startAgent(config);
      await waitFor(
        async () => {
          const s = await agent.status();
          return s.listeners.length === 2 && s.listeners.every((l) => l.state === "running");
        },
        { timeoutMs: 15_000, intervalMs: 50, message: () => agent.tail() },
      );
      // Running means bound: the first connection is answered, no retry needed.
      assert.equal((await lab.curl6(80)).answer?.port, 80, agent.tail());

      const quietBefore = socatLines(agent);
      for (let i = 0; i < 10; i++) assert.equal((await lab.curl6(80)).answer?.port, 80);
      assert.equal(socatLines(agent), quietBefore, "no socat line for connections that went well");

      const errorsBefore = errorsOf(await agent.status());
      for (let i = 0; i < 3; i++) assert.equal((await lab.curl6(REFUSED)).answer, undefined);
      // The health tick's own end-to-end probe of the port fails too and may add to the count, never take away.
      const s = await waitFor(
        async () => {
          const status = await agent.status();
          return errorsOf(status) >= errorsBefore + 3 ? status : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 200, message: () => agent.tail() },
      );
      assert.ok(errorsOf(s) >= errorsBefore + 3);
      const warned = agent
        .logs()
        .filter((l) => l.msg === "connection failed (at most one line a minute per port)");
      assert.equal(warned.length, 1, "one warning a minute for the port, with socat's reason");
      assert.match(String(warned[0]?.error), /Connection refused/);
    },
  );
});
