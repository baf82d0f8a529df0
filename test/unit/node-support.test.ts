// Node.js lines older than the oldest supported one get a warning at `sixgate run`, newer ones nothing. The test
// suite runs this file with the machine's node and with every supported line (scripts/test.sh), so both sides are
// exercised against the built CLI.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { OLDEST_SUPPORTED_NODE, oldNodeWarning } from "../../src/cli/node-support.js";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");

test("older lines are warned about, supported ones not", () => {
  assert.match(oldNodeWarning("20.19.0") ?? "", /^Node\.js 20\.19\.0 is older than 22, the oldest line/);
  assert.match(oldNodeWarning("18.20.4") ?? "", /Install Node\.js 22 or later/);
  assert.equal(oldNodeWarning("22.0.0"), undefined);
  assert.equal(oldNodeWarning("24.11.1"), undefined);
  assert.equal(oldNodeWarning("26.0.0"), undefined);
});

test("package.json engines and the bundle target name the oldest supported line", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { engines: { node: string } };
  assert.equal(pkg.engines.node, `>=${OLDEST_SUPPORTED_NODE}`);
  const bundle = readFileSync(join(ROOT, "scripts/bundle.js"), "utf8");
  assert.ok(bundle.includes(`target: "node${OLDEST_SUPPORTED_NODE}"`), "scripts/bundle.js target");
});

test("sixgate run warns on stderr under an old Node, before reading the config", async () => {
  const cli = join(ROOT, "dist/cli/main.js");
  const failed = await run(process.execPath, [cli, "run", "--config", "/nonexistent/sixgate.yaml"]).then(
    () => assert.fail("a missing config must fail"),
    (e: unknown) => e as { code: number; stderr: string },
  );
  assert.equal(failed.code, 78);
  const warned = /sixgate: warning: Node\.js \S+ is older than 22/.test(failed.stderr);
  assert.equal(warned, Number.parseInt(process.versions.node, 10) < 22, failed.stderr);
  assert.match(failed.stderr, /nonexistent\/sixgate\.yaml/);
});
