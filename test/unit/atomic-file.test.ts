// The one file writer: whole files only, in the order asked for, each write through its own temporary name.
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { removeFile, writeFileAtomic } from "../../src/effects/atomic-file.js";

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-atomic-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("200 writes at once: the last one stays, whole, and no temporary file is left", async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, "status.json");
  // Lengths differ, so writes sharing a temporary file would leave a mix.
  const texts = Array.from({ length: 200 }, (_, i) => `${"x".repeat((i * 37) % 500)}${i}\n`);
  await Promise.all(texts.map((text) => writeFileAtomic(file, text)));
  assert.equal(await readFile(file, "utf8"), texts.at(-1));
  assert.deepEqual(await readdir(dir), ["status.json"]);
});

test("a removal asked for after a write is not undone by that write", async (t) => {
  const file = join(await tempDir(t), "agent.pid");
  const written = writeFileAtomic(file, "1 2\n");
  await Promise.all([written, removeFile(file)]);
  await assert.rejects(readFile(file), { code: "ENOENT" });
});

test("parentMode creates a missing directory; durable writes reach the file", async (t) => {
  const file = join(await tempDir(t), "a", "b", "state.json");
  await writeFileAtomic(file, "{}\n", { durable: true, parentMode: 0o700 });
  assert.equal(await readFile(file, "utf8"), "{}\n");
});
