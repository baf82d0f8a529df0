// A device with a static address and nothing in the lease file, found by its MAC in the gateway's neighbour table
// (src/sources/neighbours.ts), with the real kernel, iproute2, dnsmasq and busybox in the lab's namespaces. The
// health tick is hourly, so only the neighbour watch can be what finds the device.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DEFAULT_PORTS,
  LAN_ADDRESS,
  WAN_ADDRESS,
  createLabFor,
  waitFor,
  type AgentProcess,
  type Lab,
} from "./lab.js";

const HOURLY = { health: { schedule: "0 0 * * * *" } };

/** Waits until a client gets the device's answer on the first port, and the agent says where the address came from. */
async function waitServedFrom(
  lab: Lab,
  agent: AgentProcess,
  config: string,
  device: string,
  timeoutMs: number,
) {
  const [{ listen, target }] = DEFAULT_PORTS;
  let last = "";
  let neighbours = "";
  await waitFor(
    async () => {
      const status = await lab.status(config);
      last = JSON.stringify(status.device);
      neighbours = (await lab.exec("gw", ["ip", "-s", "-4", "neigh", "show", "dev", "lan0"])).stdout;
      if (status.device.address !== device || status.device.source !== "neighbour") return false;
      const r = await lab.curl6(listen, WAN_ADDRESS, { connectTimeoutS: 1, maxTimeS: 2 });
      return r.ok && r.answer?.port === target && r.answer.remote === LAN_ADDRESS;
    },
    {
      timeoutMs,
      intervalMs: 100,
      message: () => `device ${last}\nneighbours: ${neighbours}\n${agent.tail()}`,
    },
  );
}

describe("a device with a static address", () => {
  it(
    "is served once it talks, with an empty lease file, and followed to a new static address",
    { timeout: 90_000 },
    async (t) => {
      const lab = await createLabFor(t);
      await lab.useStaticDeviceAddress("192.168.1.50");
      assert.deepEqual(await lab.leases(), [], "no lease left in the file");
      const config = await lab.writeConfig(HOURLY);
      const agent = lab.startAgent(config);
      await waitServedFrom(lab, agent, config, "192.168.1.50", 20_000);

      // Renumbered by hand while the agent runs: the gateway learns the new address when the device talks.
      const moved = Date.now();
      await lab.useStaticDeviceAddress("192.168.1.51");
      await waitServedFrom(lab, agent, config, "192.168.1.51", 20_000);
      t.diagnostic(`the move to a new static address was served after ${String(Date.now() - moved)} ms`);
      assert.ok(agent.running, agent.tail());
    },
  );
});
