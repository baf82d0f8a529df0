// The operator's choices that outlive a restart: written whole or not at all, and a damaged file never stops the agent.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { createStateStore, loadOperatorChoices } from "../../src/effects/state-store.js";
import { makeConfig } from "./fixtures.js";
import type { PortMap } from "../../src/core/types.js";

const quiet = pino({ level: "silent" });
const NONE = { devices: {}, legacy: undefined };
/** What load() gives for one device's saved choices. */
const saved = (name: string, c: { enabled: boolean; ports: PortMap[] | undefined }) => ({
  devices: { [name]: c },
  legacy: undefined,
});

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-state-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("nothing saved yet: enabled, ports from the config file", async (t) => {
  const store = createStateStore(join(await tempDir(t), "missing"), quiet);
  assert.deepEqual(await store.load(), NONE);
});

test("saved choices come back after a restart, and no temporary file is left", async (t) => {
  const dir = join(await tempDir(t), "state");
  const ports: PortMap[] = [
    { listen: 8080, target: 80 },
    { listen: "8000-8010", target: "9000-9010" },
  ];
  await createStateStore(dir, quiet).save({ cam: { enabled: false, ports } });
  assert.deepEqual(await createStateStore(dir, quiet).load(), saved("cam", { enabled: false, ports }));
  await createStateStore(dir, quiet).save({ cam: { enabled: true, ports: undefined } });
  assert.deepEqual(
    await createStateStore(dir, quiet).load(),
    saved("cam", { enabled: true, ports: undefined }),
  );
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
    '{"devices": {"cam": {"enabled": "no"}}}',
    '{"devices": []}',
  ]) {
    await writeFile(file, text);
    assert.deepEqual(await createStateStore(dir, quiet).load(), NONE, text);
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
  await Promise.all(states.map((s) => store.save({ cam: s })));
  const text = await readFile(join(dir, "state.json"), "utf8");
  assert.doesNotThrow(() => JSON.parse(text), text);
  assert.deepEqual(
    await createStateStore(dir, quiet).load(),
    saved("cam", states[states.length - 1] ?? { enabled: true, ports: undefined }),
  );
  assert.deepEqual(await readdir(dir), ["state.json"]);
});

test("a failed save rejects, leaves no temporary file, and the next save works", async (t) => {
  const dir = join(await tempDir(t), "state");
  // A directory where the file belongs: the rename fails after the temporary file was written.
  await mkdir(join(dir, "state.json", "in-the-way"), { recursive: true });
  const store = createStateStore(dir, quiet);
  await assert.rejects(store.save({ cam: { enabled: false, ports: undefined } }));
  assert.deepEqual(await readdir(dir), ["state.json"]);
  await rm(join(dir, "state.json"), { recursive: true });
  await store.save({ cam: { enabled: false, ports: undefined } });
  assert.deepEqual(await store.load(), saved("cam", { enabled: false, ports: undefined }));
});

test("a 0.1 state file ({enabled, ports}) is the one device's choices after the upgrade, and only then", async (t) => {
  const dir = await tempDir(t);
  const ports = [{ listen: 8080, target: 80 }];
  await writeFile(join(dir, "state.json"), JSON.stringify({ enabled: false, ports }));
  assert.deepEqual(await createStateStore(dir, quiet).load(), {
    devices: {},
    legacy: { enabled: false, ports },
  });
  const one = makeConfig({ stateDir: dir });
  assert.deepEqual(await loadOperatorChoices(one, quiet), { device: { enabled: false, ports } });
  // With several devices it cannot say whose they were: none are taken.
  const two = makeConfig({
    stateDir: dir,
    device: undefined,
    ports: undefined,
    devices: [
      { name: "cam", mac: "02:00:00:00:01:00", ports: [{ listen: 8080, target: 80 }] },
      { name: "plc", address: "192.168.1.50", ports: [{ listen: 502, target: 502 }] },
    ],
  });
  assert.deepEqual(await loadOperatorChoices(two, quiet), {});
});

test("saved choices of a device no longer configured are ignored; disallowed saved ports fall back to the config's", async (t) => {
  const dir = await tempDir(t);
  const store = createStateStore(dir, quiet);
  await store.save({
    gone: { enabled: false, ports: undefined },
    device: { enabled: true, ports: [{ listen: 2222, target: 22 }] },
  });
  assert.deepEqual(await loadOperatorChoices(makeConfig({ stateDir: dir }), quiet), {
    device: { enabled: true, ports: undefined },
  });
});
