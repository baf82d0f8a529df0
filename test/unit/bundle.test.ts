// The single-file build: dist/sixgate.mjs must run with plain node from a directory with nothing else in it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");

test("the bundle runs alone: --version, plan, and a bad config exits 78", { timeout: 120000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-bundle-"));
  try {
    const outfile = join(dir, "sixgate.mjs");
    const built = await run(process.execPath, [join(ROOT, "scripts/bundle.js"), "--outfile", outfile], {
      cwd: dir,
    });
    assert.match(built.stdout, /sixgate\.mjs: \d+ KiB/);
    const { size } = await stat(outfile);
    // A budget, so that a dependency that suddenly doubles the file is noticed.
    assert.ok(size < 3 * 1024 * 1024, `bundle is ${size} bytes`);

    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", NODE_PATH: "" };
    const version = await run(process.execPath, ["sixgate.mjs", "--version"], { cwd: dir, env });
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);

    await writeFile(
      join(dir, "config.yaml"),
      [
        "wan: { interface: lo }",
        "lan: { interface: lo, address: 127.0.0.1 }",
        `device: { address: 127.0.0.2, leases: ${join(dir, "leases")} }`,
        "ports: [{ listen: 8080, target: 80 }]",
        `runtimeDir: ${join(dir, "run")}`,
        "",
      ].join("\n"),
    );
    const plan = await run(process.execPath, ["sixgate.mjs", "plan", "--config", "config.yaml"], {
      cwd: dir,
      env,
    });
    assert.match(plan.stdout, /table ip sixgate/);

    await writeFile(join(dir, "bad.yaml"), "wan: { interface: 'no good' }\n");
    const bad = await run(process.execPath, ["sixgate.mjs", "plan", "--config", "bad.yaml"], {
      cwd: dir,
      env,
    }).then(
      () => assert.fail("a bad config must fail"),
      (e: unknown) => e as { code: number; stderr: string },
    );
    assert.equal(bad.code, 78);
    assert.match(bad.stderr, /wan\.interface/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
