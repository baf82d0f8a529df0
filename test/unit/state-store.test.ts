// The operator's choices that outlive a restart: written whole or not at all, and a damaged file never stops the agent.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
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

test("many saves at once: each completes, the file parses and holds the last one, no temporary file is left", async (t) => {
  const dir = join(await tempDir(t), "state");
  const store = createStateStore(dir, quiet);
  // Lengths differ, so two writes sharing one file would leave a mix that does not parse.
  const states = Array.from({ length: 50 }, (_, i) => ({
    enabled: i % 2 === 0,
    ports:
      i % 3 === 0
        ? undefined
        : Array.from({ length: 1 + (i % 7) }, (_, j) => ({ listen: 8000 + i + j, target: 80 })),
  }));
  await Promise.all(states.map((s) => store.save(s)));
  const text = await readFile(join(dir, "state.json"), "utf8");
  assert.doesNotThrow(() => JSON.parse(text), text);
  assert.deepEqual(await createStateStore(dir, quiet).load(), states.at(-1));
  assert.deepEqual(await readdir(dir), ["state.json"]);
});

test("a failed save rejects, leaves no temporary file, and the next save works", async (t) => {
  const dir = join(await tempDir(t), "state");
  // A directory where the file belongs: the rename fails after the temporary file was written.
  await mkdir(join(dir, "state.json", "in-the-way"), { recursive: true });
  const store = createStateStore(dir, quiet);
  await assert.rejects(store.save({ enabled: false, ports: undefined }));
  assert.deepEqual(await readdir(dir), ["state.json"]);
  await rm(join(dir, "state.json"), { recursive: true });
  await store.save({ enabled: false, ports: undefined });
  assert.deepEqual(await store.load(), { enabled: false, ports: undefined });
});
