// A reconcile step that fails (a listener that cannot bind its port) shows in its device's own phase and listeners.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setup, twoDevices, until } from "./agent-harness.js";

test("a listener that cannot start degrades its device, naming the port and the error; the others serve", async (t) => {
  const { agent, listeners, healthy } = setup({ config: twoDevices });
  t.after(() => agent.stop());
  listeners.failing.add(8080); // as a port another program holds: the start fails
  healthy();
  await until(() => agent.status().lastReconcile?.ok === false, "the failed reconcile");
  const device = (name: string) => agent.status().devices.find((d) => d.name === name);
  const cam = device("cam");
  assert.equal(cam?.phase, "degraded", `cam: ${cam?.phase} (${String(cam?.reason)})`);
  assert.match(cam.reason ?? "", /listener :8080 failed/);
  // The failed listener is listed, stopped, with its error: a dashboard counts it as down, not as absent.
  assert.deepEqual(
    cam.listeners.map((l) => [l.listen, l.state, l.lastError]),
    [[8080, "stopped", "listener :8080 failed"]],
  );
  assert.equal(device("plc")?.phase, "serving");
  assert.equal(device("plc")?.reason, null);
  assert.equal(agent.status().phase, "degraded");
  // Once the port is free the retry starts it and the device serves.
  listeners.failing.clear();
  await until(() => device("cam")?.phase === "serving", "cam serving after the retry", 5000);
  assert.deepEqual(
    device("cam")?.listeners.map((l) => [l.listen, l.state]),
    [[8080, "running"]],
  );
  assert.equal(agent.status().phase, "serving");
});

test("with one device the failed listener is the device's reason and the agent's", async (t) => {
  const { agent, listeners, healthy } = setup({
    config: {
      ports: [
        { listen: 80, target: 80 },
        { listen: 81, target: 81 },
      ],
      allowedTargets: [80, 81],
    },
  });
  t.after(() => agent.stop());
  listeners.failing.add(81);
  healthy();
  await until(() => agent.status().lastReconcile?.ok === false, "the failed reconcile");
  const [device] = agent.status().devices;
  assert.equal(device?.phase, "degraded");
  assert.match(device.reason ?? "", /:81 failed/);
  assert.deepEqual(
    device.listeners.map((l) => [l.listen, l.state]),
    [
      [80, "running"],
      [81, "stopped"],
    ],
  );
});
