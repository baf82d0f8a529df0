// The preflight's decisions on what the tools answered (the texts are what iproute2 6.1, BusyBox 1.35, socat 1.7,
// nftables 1.0 and iptables 1.8 print), and a failing `ip` after start becoming a problem the status names.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { pino } from "pino";
import { firstValueFrom, timeout } from "rxjs";
import { createRunner, type RunResult, type Runner, type Spawned } from "../../src/effects/exec.js";
import { checkTools, describeToolFaults, explainIpFailure } from "../../src/effects/preflight.js";
import { neighbourEvents } from "../../src/sources/neighbours.js";
import { netlinkEvents } from "../../src/sources/netlink.js";
import { createProblems } from "../../src/util/problems.js";

const quiet = pino({ level: "silent" });

const BUSYBOX_USAGE = [
  "BusyBox v1.35.0 (Debian 1:1.35.0-4+deb12u1+b1) multi-call binary.",
  "",
  "Usage: ip [OPTIONS] address|route|link|tunnel|neigh|rule [ARGS]",
  "",
].join("\n");
const LO_JSON = JSON.stringify([
  {
    ifindex: 1,
    ifname: "lo",
    flags: ["LOOPBACK", "UP", "LOWER_UP"],
    addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8, scope: "host" }],
  },
]);

const ok = (stdout: string): RunResult => ({ exitCode: 0, stdout, stderr: "" });
const failed = (exitCode: number, stderr: string): RunResult => ({ exitCode, stdout: "", stderr });
const NOT_FOUND = failed(127, "Command failed with ENOENT: x\nspawn x ENOENT");

/** What a healthy Debian gateway answers; a test replaces the answers it is about. */
const HEALTHY: Record<string, RunResult> = {
  "ip -json addr show dev lo": ok(LO_JSON),
  "ip monitor help": failed(255, "Usage: ip monitor [ all | OBJECTS ] [ FILE ] [ label ] [ all-nsid ]\n"),
  "socat -V": ok("socat by Gerhard Rieger and contributors\nsocat version 1.7.4.4 on 06 Nov 2022\n"),
  "nft -j list tables": ok('{"nftables": [{"metainfo": {"version": "1.0.6"}}]}\n'),
  "iptables-restore --version": ok("iptables-restore v1.8.9 (nf_tables)\n"),
  "iptables-save --version": ok("iptables-save v1.8.9 (nf_tables)\n"),
};

const BUSYBOX_IP: Record<string, RunResult> = {
  "ip -json addr show dev lo": failed(1, BUSYBOX_USAGE),
  "ip monitor help": failed(1, BUSYBOX_USAGE),
  "ip -json addr show": failed(1, BUSYBOX_USAGE),
};

/** Answers each command from the table; anything else is a test error. Records what was asked. */
function fakeRunner(
  answers: Record<string, RunResult>,
  spawn: (argv: readonly string[]) => Spawned = () => {
    throw new Error("not expected");
  },
): Runner & { calls: string[]; timeouts: (number | undefined)[] } {
  const calls: string[] = [];
  const timeouts: (number | undefined)[] = [];
  return {
    calls,
    timeouts,
    run(argv, options) {
      const key = argv.join(" ");
      calls.push(key);
      timeouts.push(options?.timeoutMs);
      const answer = answers[key];
      if (answer === undefined) return Promise.reject(new Error(`unexpected command: ${key}`));
      return Promise.resolve(answer);
    },
    spawn,
  };
}

const check = (over: Record<string, RunResult>, firewall: "auto" | "nft" | "iptables" = "auto") =>
  checkTools(fakeRunner({ ...HEALTHY, ...over }), firewall);

describe("preflight: what the tools answer", () => {
  test("a healthy gateway: no faults, auto picks nft, every probe read-only and bounded", async () => {
    const runner = fakeRunner(HEALTHY);
    assert.deepEqual(await checkTools(runner, "auto"), { faults: [], backend: "nft" });
    assert.deepEqual(runner.calls.sort(), Object.keys(HEALTHY).sort());
    assert.ok(
      runner.timeouts.every((t) => t !== undefined && t <= 5000),
      `every probe has its own short timeout: ${String(runner.timeouts)}`,
    );
  });

  test("BusyBox's ip: neither -json nor monitor, named as BusyBox's, iproute2 / ip-full advised", async () => {
    const { faults, backend } = await check(BUSYBOX_IP);
    assert.equal(backend, "nft");
    assert.deepEqual(describeToolFaults(faults), [
      "ip: does not support -json (this is BusyBox's ip) and has no monitor command (this is BusyBox's ip); install iproute2 (Debian) or ip-full (OpenWrt)",
    ]);
  });

  test("an ip whose -json output is not what the parser accepts, and one that is not there at all", async () => {
    const garbage = await check({ "ip -json addr show dev lo": ok("1: lo: <LOOPBACK,UP> mtu 65536\n") });
    assert.deepEqual(
      garbage.faults.map((f) => f.problem),
      ["printed no JSON for ip -json addr show"],
    );
    const old = await check({
      "ip -json addr show dev lo": failed(255, 'Option "-json" is unknown, try "ip -help".'),
    });
    assert.deepEqual(
      old.faults.map((f) => f.problem),
      ['does not support -json: Option "-json" is unknown, try "ip -help".'],
    );
    const missing = await check({ "ip -json addr show dev lo": NOT_FOUND, "ip monitor help": NOT_FOUND });
    assert.deepEqual(
      missing.faults.map((f) => `${f.tool} ${f.problem}`),
      ["ip not found on PATH", "ip not found on PATH"],
    );
  });

  test("socat missing or too slow to answer", async () => {
    const missing = await check({ "socat -V": NOT_FOUND });
    assert.deepEqual(describeToolFaults(missing.faults), [
      "socat: not found on PATH; install socat (Debian and OpenWrt)",
    ]);
    const hung = await check({ "socat -V": failed(124, "\ntimed out after 5000 ms") });
    assert.deepEqual(
      hung.faults.map((f) => f.problem),
      ["did not answer within 5000 ms"],
    );
  });

  test("firewall nft: an nft without JSON, without privileges, or absent is a fault; iptables is not asked", async () => {
    const noJson = await check(
      { "nft -j list tables": failed(1, "Error: JSON support not compiled-in\n") },
      "nft",
    );
    assert.equal(noJson.backend, undefined);
    assert.deepEqual(describeToolFaults(noJson.faults), [
      "nft: was built without JSON support: Error: JSON support not compiled-in; install nftables (Debian) or nftables-json (OpenWrt)",
    ]);
    const denied = await check(
      { "nft -j list tables": failed(1, "Error: Could not process rule: Operation not permitted\n") },
      "nft",
    );
    assert.match(
      denied.faults[0]?.problem ?? "",
      /^cannot list the ruleset \(root and nf_tables are needed\)/,
    );
    const runner = fakeRunner({ ...HEALTHY, "nft -j list tables": NOT_FOUND });
    const absent = await checkTools(runner, "nft");
    assert.deepEqual(
      absent.faults.map((f) => `${f.tool} ${f.problem}`),
      ["nft not found on PATH"],
    );
    assert.ok(!runner.calls.some((c) => c.startsWith("iptables")), "the nft backend never runs iptables");
  });

  test("firewall iptables: both iptables-restore and iptables-save are needed; nft is not asked", async () => {
    const runner = fakeRunner({ ...HEALTHY, "iptables-save --version": NOT_FOUND });
    const { faults, backend } = await checkTools(runner, "iptables");
    assert.equal(backend, undefined);
    assert.deepEqual(describeToolFaults(faults), [
      "iptables-save: not found on PATH; install iptables (Debian) or iptables-nft (OpenWrt)",
    ]);
    assert.ok(!runner.calls.some((c) => c.startsWith("nft")), "the iptables backend never runs nft");
    assert.deepEqual(await check({}, "iptables"), { faults: [], backend: "iptables" });
  });

  test("firewall auto: iptables when nft does not work, a fault naming both only when neither does", async () => {
    const noNft = { "nft -j list tables": NOT_FOUND };
    assert.deepEqual(await check(noNft), { faults: [], backend: "iptables" });
    const neither = await check({
      ...noNft,
      "iptables-restore --version": NOT_FOUND,
      "iptables-save --version": NOT_FOUND,
    });
    assert.equal(neither.backend, undefined);
    assert.deepEqual(
      neither.faults.map((f) => f.tool),
      ["nft", "iptables-restore", "iptables-save"],
    );
  });

  test("the real runner reports a missing program as 127, which the preflight reads as not found", async () => {
    const r = await createRunner(quiet).run(["sixgate-no-such-program-preflight"]);
    assert.equal(r.exitCode, 127, r.stderr);
  });
});

describe("ip failing after start: a problem the status names", () => {
  test("the diagnosis is the preflight's when ip is no longer iproute2's, the error as it came otherwise", async () => {
    assert.match(
      await explainIpFailure(fakeRunner(BUSYBOX_IP), "cannot read interfaces", "ip failed: BusyBox v1.35.0"),
      /^cannot read interfaces: ip: does not support -json \(this is BusyBox's ip\) and has no monitor command \(this is BusyBox's ip\); install iproute2 \(Debian\) or ip-full \(OpenWrt\)$/,
    );
    assert.equal(
      await explainIpFailure(fakeRunner(HEALTHY), "ip monitor exited (SIGKILL); restarting it"),
      "ip monitor exited (SIGKILL); restarting it",
    );
  });

  test("ip replaced by BusyBox's: the monitor's exit and the failed snapshot become problems, no silent start", async () => {
    const problems = createProblems(quiet);
    let spawned = 0;
    const runner = fakeRunner(BUSYBOX_IP, () => {
      spawned++;
      // BusyBox's ip prints its usage and exits 1 at once.
      return {
        pid: undefined,
        exited: Promise.resolve({ exitCode: 1, signal: undefined }),
        kill: () => undefined,
      };
    });
    const events = netlinkEvents(runner, quiet, undefined, undefined, problems);
    const subscription = events.subscribe();
    try {
      await firstValueFrom(problems.changes.pipe(timeout(5000)));
      const deadline = Date.now() + 5000;
      while (problems.list().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const list = problems.list().sort();
      assert.equal(list.length, 2, JSON.stringify(list));
      assert.match(
        list[0] ?? "",
        /^cannot read interfaces: ip: does not support -json \(this is BusyBox's ip\) and has no monitor .*; install iproute2/,
      );
      assert.match(
        list[1] ?? "",
        /^ip -o monitor exited \(code 1\); restarting it: ip: does not support -json .*install iproute2/,
      );
      assert.ok(spawned >= 1);
    } finally {
      subscription.unsubscribe();
    }
  });

  test("the neighbour monitor (device.mac) reports its exit the same way, under its own name", async () => {
    const problems = createProblems(quiet);
    const runner = fakeRunner(
      { ...BUSYBOX_IP, "ip -s -4 -json neigh show dev lan0": failed(1, BUSYBOX_USAGE) },
      () => ({
        pid: undefined,
        exited: Promise.resolve({ exitCode: 1, signal: undefined }),
        kill: () => undefined,
      }),
    );
    const subscription = neighbourEvents(
      runner,
      "lan0",
      ["02:00:00:00:01:00"],
      quiet,
      undefined,
      undefined,
      problems,
    ).subscribe();
    try {
      await firstValueFrom(problems.changes.pipe(timeout(5000)));
      assert.match(
        problems.list()[0] ?? "",
        /^ip -o monitor exited \(code 1\); restarting it: ip: does not support -json .*install iproute2/,
      );
    } finally {
      subscription.unsubscribe();
    }
  });

  test("a monitor we stop ourselves is no problem; one that runs on clears an earlier exit", async () => {
    const problems = createProblems(quiet);
    problems.set("ip-monitor", "ip -o monitor exited (SIGKILL); restarting it");
    let exit: (v: { exitCode: number | undefined; signal: string | undefined }) => void = () => undefined;
    const runner = fakeRunner({ "ip -json addr show": ok(LO_JSON) }, () => ({
      pid: undefined,
      exited: new Promise((resolve) => (exit = resolve)),
      kill: () => exit({ exitCode: undefined, signal: "SIGTERM" }),
    }));
    const subscription = netlinkEvents(runner, quiet, undefined, undefined, problems).subscribe();
    // Cleared once the restarted monitor has run for a while (MONITOR_SETTLED_MS, 5 s).
    const deadline = Date.now() + 8000;
    while (problems.list().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(problems.list(), []);
    subscription.unsubscribe();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(problems.list(), [], "our own stop is not reported");
  });
});

describe("preflight: haproxy, only when listener.backend chooses it", () => {
  const HAPROXY_26 = ok("HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/\n");

  test("with socat (the default) haproxy is not asked; with haproxy it is, and a working one is no fault", async () => {
    const socat = fakeRunner(HEALTHY);
    await checkTools(socat, "auto");
    assert.ok(!socat.calls.includes("haproxy -v"));
    const runner = fakeRunner({ ...HEALTHY, "haproxy -v": HAPROXY_26 });
    assert.deepEqual(await checkTools(runner, "auto", "haproxy"), { faults: [], backend: "nft" });
    assert.ok(runner.calls.includes("haproxy -v"));
  });

  test("haproxy missing, too old, or not haproxy: named with its package", async () => {
    const withHaproxy = (answer: RunResult) =>
      checkTools(fakeRunner({ ...HEALTHY, "haproxy -v": answer }), "auto", "haproxy");
    assert.deepEqual(describeToolFaults((await withHaproxy(NOT_FOUND)).faults), [
      "haproxy: not found on PATH; install haproxy (Debian and OpenWrt)",
    ]);
    assert.deepEqual(
      (await withHaproxy(ok("HA-Proxy version 2.0.33 2023/08/19\n"))).faults.map((f) => f.problem),
      ["is version 2.0; 2.2 or later is needed"],
    );
    assert.deepEqual(
      (await withHaproxy(failed(1, "haproxy: bad option\n"))).faults.map((f) => f.problem),
      ["is not a working haproxy: haproxy: bad option"],
    );
  });
});
