// A client that sends its request and then half-closes (shuts down its sending side, as `nc -N` and HTTP/1.0 tools
// do) must still get the answer of a device that takes its time: the built agent in the lab, real socat, a slow
// device in the device namespace, the client in the client namespace.
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { createLabFor, waitFor, type Lab } from "./lab.js";

const TEST = { timeout: 120_000 };
const SLOW_PORT = 7000;
/** The device answers this long after the client's half-close: three times socat's own default wait (-t 0.5). */
const ANSWER_AFTER_MS = 1500;

/**
 * A device that reads the request until the client half-closes, then answers ANSWER_AFTER_MS later and closes.
 * The health probe's connections (nothing sent, closed at once) end in a write error, which it ignores.
 */
const SLOW_DEVICE = `
const net = require("node:net");
net.createServer({ allowHalfOpen: true }, (s) => {
  let request = "";
  s.on("error", () => undefined);
  s.on("data", (d) => (request += d));
  s.on("end", () => setTimeout(() => s.end("answer to " + request.trim() + "\\n"), ${ANSWER_AFTER_MS}));
}).listen(${SLOW_PORT}, "0.0.0.0");
`;

async function slowDeviceLab(t: TestContext, listener: Record<string, number>): Promise<Lab> {
  const lab = await createLabFor(t);
  lab.spawn("dev", [process.execPath, "-e", SLOW_DEVICE], "slow-device");
  await waitFor(async () => (await lab.listeningTcp("dev")).some((l) => l.port === SLOW_PORT), {
    timeoutMs: 5_000,
    message: () => lab.readLog("slow-device"),
  });
  const config = await lab.writeConfig({ ports: [{ listen: SLOW_PORT, target: SLOW_PORT }], listener });
  const agent = lab.startAgent(config);
  await agent.waitPhase("serving", 15_000);
  return lab;
}

/**
 * Sends "ping" from `role` to `address` and half-closes (socat passes its stdin's EOF on as a shutdown of the
 * socket's sending side), then waits up to 5 s for the answer. Returns what came back (trimmed).
 */
async function pingHalfClosed(lab: Lab, role: "cli" | "gw", address: string): Promise<string> {
  const r = await lab.exec(role, ["socat", "-t", "5", "STDIO", address], {
    input: "ping\n",
    timeoutMs: 10_000,
  });
  return r.stdout;
}

describe("half-close", () => {
  it(
    "a client that half-closed gets an answer the device sends 1.5 s later, through sixgate",
    TEST,
    async (t) => {
      const lab = await slowDeviceLab(t, {});
      const device = await lab.deviceAddress();
      assert.ok(device !== undefined);
      // The device itself answers such a client: the answer is there to be carried.
      assert.equal(await pingHalfClosed(lab, "gw", `TCP4:${device}:${SLOW_PORT}`), "answer to ping");
      assert.equal(
        await pingHalfClosed(lab, "cli", `TCP6:[${lab.wanAddress}]:${SLOW_PORT}`),
        "answer to ping",
        "the answer came through sixgate",
      );
    },
  );

  it(
    "listener.halfCloseSec is the wait: shorter than the device's delay, the answer is lost",
    TEST,
    async (t) => {
      const lab = await slowDeviceLab(t, { halfCloseSec: 0.5 });
      assert.equal(await pingHalfClosed(lab, "cli", `TCP6:[${lab.wanAddress}]:${SLOW_PORT}`), "");
    },
  );
});
