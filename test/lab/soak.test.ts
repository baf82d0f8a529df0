// The one-minute chaos soak (the same harness as `npm run soak`, which runs it for ten): continuous IPv6 load on
// every port while the WAN renumbers, the device re-leases, a socat is killed, the cable is pulled and the broker
// restarts. No request may fail outside a switch window; the agent lives; every disturbance heals.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runSoak, summary } from "./soak.js";

test(
  "soak: a minute of load and chaos, no failure outside the switch windows",
  { timeout: 300_000 },
  async (t) => {
    const seed = process.env.SOAK_SEED === undefined ? undefined : Number(process.env.SOAK_SEED);
    const report = await runSoak({
      seconds: 60,
      ...(seed === undefined ? {} : { seed }),
      gapSeconds: [2, 6],
      log: (text) => {
        for (const line of text.split("\n")) t.diagnostic(line);
      },
    });
    assert.ok(report.ok, summary(report));
    // The chaos happened and the load ran through it: a soak without either proves nothing.
    assert.ok(report.disturbances.length >= 2, `only ${report.disturbances.length} disturbances`);
    assert.ok(report.requests.answered > 100, `only ${report.requests.answered} answers`);
  },
);
