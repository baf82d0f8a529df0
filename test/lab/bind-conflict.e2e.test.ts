// A listen port another program holds when the agent starts: its device is degraded, naming the port and socat's
// bind error, until the port is free and the retry serves it. Everything runs inside the lab's namespaces.
import assert from "node:assert/strict";
import { test } from "node:test";
import { WAN_ADDRESS, createLabFor, signalPid, waitFor, type AgentStatus } from "./lab.js";

const device = (s: AgentStatus) => s.devices?.[0];

test(
  "a port held by a foreign socat degrades its device with the bind error; once freed, it serves",
  { timeout: 120_000 },
  async (t) => {
    const lab = await createLabFor(t);
    // Started by this test, in the lab's gateway namespace: the only process this test stops.
    const foreign = lab.spawn(
      "gw",
      ["socat", `TCP6-LISTEN:80,bind=[${WAN_ADDRESS}],reuseaddr,fork`, "EXEC:/bin/echo foreign"],
      "foreign-80",
    );
    await waitFor(
      async () =>
        (await lab.listeningTcp("gw")).some((l) => l.port === 80 && l.address === `[${WAN_ADDRESS}]`),
      { timeoutMs: 5_000, message: () => lab.readLog("foreign-80") },
    );
    const agent = lab.startAgent(await lab.writeConfig());
    const degraded = await agent.waitPhase(
      "degraded",
      20_000,
      (s) =>
        device(s)?.phase === "degraded" &&
        s.listeners.some((l) => l.listen === 2323 && l.state === "running"),
    );
    const dev = device(degraded);
    assert.match(dev?.reason ?? "", /:80\b.*Address already in use/, JSON.stringify(dev));
    assert.ok(
      dev?.listeners.some((l) => l.listen === 80 && l.state !== "running"),
      `port 80 listed, not running: ${JSON.stringify(dev?.listeners)}`,
    );
    signalPid(foreign.pid, "SIGTERM");
    await foreign.exited;
    const serving = await agent.waitPhase("serving", 60_000, (s) => device(s)?.phase === "serving");
    assert.equal(device(serving)?.reason, null);
    assert.ok(device(serving)?.listeners.some((l) => l.listen === 80 && l.state === "running"));
  },
);
