// The one runner (src/effects/exec.ts) with real processes: what run() returns (output, exit codes, input,
// timeouts, a missing program) and what spawn() reports (lines, exit, a missing program, a process group stopped).
// The programs are fixtures run by argv; the runner itself never uses a shell (test/fuzz/no-shell.test.ts).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { pino } from "pino";
import { createRunner } from "../../src/effects/exec.js";

const runner = createRunner(pino({ level: "silent" }), 5000);

function alive(pid: number): boolean {
  try {
    // A zombie is gone for our purposes: it runs nothing.
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

describe("runner: run", () => {
  test("stdout, stderr and the exit code, in the C locale", async () => {
    const r = await runner.run(["sh", "-c", 'echo "out $LC_ALL"; echo err >&2; exit 3']);
    assert.deepEqual(r, { exitCode: 3, stdout: "out C\n", stderr: "err\n" });
  });

  test("input goes to stdin", async () => {
    const input = "table ip sixgate {}\n".repeat(5000);
    const r = await runner.run(["cat"], { input });
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, input);
  });

  test("a program that is not there: 127, named in stderr", async () => {
    const r = await runner.run(["sixgate-no-such-program"]);
    assert.equal(r.exitCode, 127);
    assert.match(r.stderr, /sixgate-no-such-program: not found on PATH/);
  });

  test("a timeout: 124 and said so, at once", async () => {
    const started = performance.now();
    const r = await runner.run(["sleep", "10"], { timeoutMs: 200 });
    assert.equal(r.exitCode, 124);
    assert.match(r.stderr, /timed out after 200 ms/);
    assert.ok(performance.now() - started < 1500, `${performance.now() - started} ms`);
  });

  test("a timed-out command that ignores SIGTERM is killed, even while a child holds its output open", async () => {
    const started = performance.now();
    const r = await runner.run(["sh", "-c", 'trap "" TERM; echo $$; sleep 10; sleep 10'], { timeoutMs: 200 });
    assert.equal(r.exitCode, 124);
    const shell = Number(r.stdout.trim());
    assert.ok(shell > 0 && !alive(shell), `the shell (${r.stdout.trim()}) is gone`);
    assert.ok(performance.now() - started < 4500, `${performance.now() - started} ms`);
  });
});

describe("runner: spawn", () => {
  test("each line, and the exit code once every line is in", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const child = runner.spawn(["sh", "-c", "printf 'a\\nb\\n'; echo c >&2; exit 4"], {
      onStdoutLine: (l) => out.push(l),
      onStderrLine: (l) => err.push(l),
    });
    assert.ok(child.pid !== undefined);
    assert.deepEqual(await child.exited, { exitCode: 4, signal: undefined });
    assert.deepEqual(out, ["a", "b"]);
    assert.deepEqual(err, ["c"]);
  });

  test("a program that is not there: an error, no pid", async () => {
    const child = runner.spawn(["sixgate-no-such-program"]);
    assert.equal(child.pid, undefined);
    assert.deepEqual(await child.exited, {
      exitCode: undefined,
      signal: undefined,
      error: "sixgate-no-such-program: not found on PATH",
    });
  });

  test("a group: kill() stops the leader and what it started", async () => {
    const lines: string[] = [];
    const child = runner.spawn(["sh", "-c", "sleep 30 & echo $!; wait"], {
      onStdoutLine: (l) => lines.push(l),
      group: true,
    });
    const deadline = Date.now() + 5000;
    while (lines.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const sleeper = Number(lines[0]);
    assert.ok(sleeper > 0 && alive(sleeper), `the group's sleep runs (${lines[0]})`);
    child.kill("SIGTERM");
    assert.deepEqual(await child.exited, { exitCode: undefined, signal: "SIGTERM" });
    const gone = Date.now() + 5000;
    while (alive(sleeper) && Date.now() < gone) await new Promise((r) => setTimeout(r, 10));
    assert.ok(!alive(sleeper), "the group's sleep is gone too");
  });
});
