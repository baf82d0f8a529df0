// The operator's choices that outlive a restart: written whole or not at all, and a damaged file never stops the agent.
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { createStateStore } from "../../src/effects/state-store.js";

const quiet = pino({ level: "silent" });

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-state-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("nothing saved yet: enabled, ports from the config file", async (t) => {
  const store = createStateStore(join(await tempDir(t), "missing"), quiet);
  assert.deepEqual(await store.load(), { enabled: true, ports: undefined });
});

test("saved choices come back after a restart, and no temporary file is left", async (t) => {
  const dir = join(await tempDir(t), "state");
  const ports = [{ listen: 8080, target: 80 }];
  await createStateStore(dir, quiet).save({ enabled: false, ports });
  assert.deepEqual(await createStateStore(dir, quiet).load(), { enabled: false, ports });
  await createStateStore(dir, quiet).save({ enabled: true, ports: undefined });
  assert.deepEqual(await createStateStore(dir, quiet).load(), { enabled: true, ports: undefined });
  assert.deepEqual(await readdir(dir), ["state.json"]);
});

test("a damaged or invalid file falls back to the config file's settings", async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, "state.json");
  for (const text of [
    "",
    "{",
    '{"enabled": "no"}',
    '{"enabled": false, "ports": [{"listen": 0, "target": 80}]}',
  ]) {
    await writeFile(file, text);
    assert.deepEqual(await createStateStore(dir, quiet).load(), { enabled: true, ports: undefined }, text);
  }
});
