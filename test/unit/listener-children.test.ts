// Counting a listener's connections as its child processes: the kernel's children file, and the /proc scan used
// where the kernel has none.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { countChildren, parentOf } from "../../src/effects/listeners/children.js";

test("parentOf reads the ppid after the command name, whatever the name holds", () => {
  assert.equal(parentOf("123 (socat) S 77 123 123 0 -1 4194560"), 77);
  assert.equal(parentOf("124 (a) b (c)) R 9 124 124"), 9);
  assert.equal(parentOf("garbage"), undefined);
});

test("a real process's children are counted; a pid that is gone has none", async (t) => {
  // Its own process group, so the test's cleanup ends the sleeps too.
  const parent = spawn("sh", ["-c", "sleep 30 & sleep 30 & wait"], { stdio: "ignore", detached: true });
  const pid = parent.pid ?? assert.fail("no pid");
  t.after(() => process.kill(-pid, "SIGKILL"));
  const deadline = Date.now() + 2000;
  let counts = await countChildren([pid, 999_999_999]);
  while (counts.get(pid) !== 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    counts = await countChildren([pid, 999_999_999]);
  }
  assert.equal(counts.get(pid), 2);
  assert.equal(counts.get(999_999_999), 0);
});

test("without the kernel's children file, one pass over every process's stat counts them", async (t) => {
  const proc = await mkdtemp(join(tmpdir(), "sixgate-proc-"));
  t.after(() => rm(proc, { recursive: true, force: true }));
  const stats: [number, number][] = [
    [100, 1],
    [101, 100],
    [102, 100],
    [103, 100],
    [200, 1],
    [201, 200],
  ];
  for (const [pid, ppid] of stats) {
    await mkdir(join(proc, String(pid)));
    await writeFile(join(proc, String(pid), "stat"), `${pid} (socat) S ${ppid} ${pid} ${pid} 0`);
  }
  await writeFile(join(proc, "uptime"), "1.0 1.0"); // not a process
  assert.deepEqual(
    await countChildren([100, 200, 300], proc),
    new Map([
      [100, 3],
      [200, 1],
      [300, 0],
    ]),
  );
});
