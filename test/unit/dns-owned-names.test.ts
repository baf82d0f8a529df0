// The record of the DNS names sixgate wrote (src/dns/owned-names.ts): round trip, and a missing or damaged file read
// as no names, so nothing is removed on its word.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { createOwnedNames, ownedNamesPath } from "../../src/dns/owned-names.js";

test("names saved are loaded back; a missing, damaged or wrongly shaped file is no names", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-dns-names-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const stateDir = join(dir, "state");
  const warnings: string[] = [];
  const log = pino({ level: "warn" }, { write: (line: string) => void warnings.push(line) });
  const names = createOwnedNames(stateDir, log);

  assert.deepEqual([...(await names.load())], [], "no file yet");
  assert.equal(warnings.length, 0, "a missing file is not a problem");
  await names.save(new Set(["gw.example.test", "cam.example.test"]));
  assert.deepEqual(JSON.parse(await readFile(ownedNamesPath(stateDir), "utf8")), {
    names: ["cam.example.test", "gw.example.test"],
  });
  assert.deepEqual([...(await names.load())].sort(), ["cam.example.test", "gw.example.test"]);

  for (const damaged of ["{", '{"names": "cam.example.test"}', "[]"]) {
    await writeFile(ownedNamesPath(stateDir), damaged);
    assert.deepEqual([...(await names.load())], [], damaged);
  }
  assert.equal(warnings.length, 3);
  assert.match(warnings[0] ?? "", /damaged; none is removed/);
});
