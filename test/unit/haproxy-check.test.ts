// The HAProxy backend's configuration check against the real haproxy binary: a configuration it refuses is
// rejected with HAProxy's own alert (the line and what is wrong), not just its exit code; nothing is started.
import { test } from "node:test";
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { createRunner } from "../../src/effects/exec.js";
import { createHaproxyListeners } from "../../src/effects/listeners/haproxy.js";
import { createPidRecords } from "../../src/effects/pid-records.js";
import { listenerSpec } from "./fixtures.js";

const HAPROXY = "/usr/sbin/haproxy";

// Not an address: what `haproxy -c` refuses (the schema never lets one through; the check is the last guard).
const spec = listenerSpec({ device: "cam", listen: 8080, wanAddress: "2001:db8::zz" });

test(
  "a configuration haproxy -c refuses: the start rejects with HAProxy's alert naming the line",
  { skip: !statSync(HAPROXY, { throwIfNoEntry: false }) },
  async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "sixgate-haproxy-check-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const log = pino({ level: "silent" });
    const listeners = createHaproxyListeners({
      runner: createRunner(log),
      log,
      records: createPidRecords(dir, log),
      runtimeDir: dir,
      haproxyPath: HAPROXY,
    });
    await assert.rejects(
      listeners.start(spec),
      /listener :8080: haproxy -c refused the configuration: .*parsing \[.*haproxy\.cfg:\d+\].*2001:db8::zz/,
    );
    assert.deepEqual(listeners.statuses(), [], "nothing kept of it");
    await listeners.stopAll();
  },
);
