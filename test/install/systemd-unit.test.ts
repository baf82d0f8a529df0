// The systemd unit as systemd itself reads it: `systemd-analyze verify` passes and the sandbox's exposure score
// stays where docs/operations.md says it is. ExecStart points at the built bundle, as an install would.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

const root = fileURLToPath(new URL("../..", import.meta.url));
const bundle = join(root, "dist", "sixgate.mjs");

async function installedCopy(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  assert.ok(existsSync(bundle), "dist/sixgate.mjs is missing: run npm run build first");
  const dir = await mkdtemp(join(tmpdir(), "sixgate-unit-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const unit = (await readFile(join(root, "systemd", "sixgate.service"), "utf8")).replaceAll(
    "/usr/bin/sixgate",
    bundle,
  );
  const path = join(dir, "sixgate.service");
  await writeFile(path, unit);
  return path;
}

test("systemd-analyze verify accepts the unit", async (t) => {
  const unit = await installedCopy(t);
  const r = await execa("systemd-analyze", ["verify", unit], { reject: false, timeout: 30_000 });
  assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  assert.equal(r.stderr.trim(), "", "no warnings");
});

test("the unit's exposure score is at most 2.0 (documented: 1.6)", async (t) => {
  const unit = await installedCopy(t);
  const r = await execa("systemd-analyze", ["security", "--offline=true", unit], {
    reject: false,
    timeout: 30_000,
  });
  const m = /Overall exposure level for \S+: ([0-9.]+)/.exec(r.stdout);
  assert.ok(m?.[1] !== undefined, r.stdout + r.stderr);
  assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]}`);
});

/** The NODE_OPTIONS the service files ship: the unit's Environment= line and the procd script's env. */
async function shippedNodeOptions(): Promise<string[]> {
  const unit = await readFile(join(root, "systemd", "sixgate.service"), "utf8");
  const procd = await readFile(join(root, "openwrt", "sixgate.init"), "utf8");
  return [
    /^Environment="NODE_OPTIONS=([^"]*)"$/m.exec(unit)?.[1],
    /procd_set_param env NODE_OPTIONS="([^"]*)"/.exec(procd)?.[1],
  ].map((o) => o ?? "(missing)");
}

test("the shipped NODE_OPTIONS are the same in both service files, and this node takes them (gc exposed)", async () => {
  const [unit, procd] = await shippedNodeOptions();
  assert.equal(unit, procd);
  // This file runs on every supported line in CI: a flag a line refuses in NODE_OPTIONS would stop the service.
  const r = await execa(
    process.execPath,
    ["-e", "process.exit(typeof globalThis.gc === 'function' ? 0 : 3)"],
    {
      env: { NODE_OPTIONS: unit },
      reject: false,
      timeout: 30_000,
    },
  );
  assert.equal(r.exitCode, 0, `NODE_OPTIONS=${String(unit)}: ${r.stderr}`);
});
