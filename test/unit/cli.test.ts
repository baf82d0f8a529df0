// The command line as a user meets it: the real entry point run as a child process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";

const MAIN = resolve(import.meta.dirname, "../../src/cli/main.ts");

const sixgate = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args], { encoding: "utf8", timeout: 30000 });

test("an unknown command is answered as such (exit 64), before any config file is read", () => {
  // A config file that does not exist: the answer must still be about the command, not the file.
  const r = sixgate("bogus", "--config", "/nonexistent/sixgate.yaml");
  assert.equal(r.status, 64, r.stderr);
  assert.match(r.stderr, /^sixgate: unknown command "bogus"/);
  assert.doesNotMatch(r.stderr, /nonexistent|sixgate.yaml/);
  assert.equal(sixgate("bogus").status, 64);
});

test("status still answers while the config file is invalid (an edit the agent refused to reload), with a warning", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-cli-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const runtimeDir = join(dir, "run");
  await mkdir(runtimeDir);
  // A running "agent": this test process, recorded as the agent records itself (pid and start time).
  const started = (await readFile("/proc/self/stat", "utf8")).split(") ")[1]?.split(" ")[19];
  await writeFile(join(runtimeDir, "agent.pid"), `${process.pid} ${started ?? "?"}\n`);
  await writeFile(join(runtimeDir, "status.json"), JSON.stringify({ phase: "serving" }));
  const config = join(dir, "config.yaml");
  // The agent runs with the file as it was; the operator has since made a typo.
  await writeFile(
    config,
    `wan: { interface: wan0 }\nlan: { interface: lan0, adress: auto }\nports: [{ listen: 80, target: 80 }]\nruntimeDir: ${runtimeDir}\n`,
  );
  const r = sixgate("status", "--json", "--config", config);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { phase: "serving" });
  assert.match(r.stderr, /warning: .*lan: unknown key\(s\): adress/);
  assert.match(r.stderr, new RegExp(`runtimeDir ${runtimeDir}`));
});
