// The command line as a user meets it: the real entry point run as a child process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";

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
