// The DNS updater against a scripted runner: what nsupdate is given, when it runs again, what status says.
// The real server is in test/lab/dns.e2e.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { BehaviorSubject } from "rxjs";
import type { RecordSource } from "../../src/core/dns.js";
import type { DnsRecordStatus } from "../../src/core/status.js";
import type { RunResult, Runner } from "../../src/effects/exec.js";
import type { OwnedNames } from "../../src/dns/owned-names.js";
import { createDnsUpdater, updateScript, type DnsUpdater } from "../../src/dns/updater.js";
import { waitFor } from "../lab/util.js";

const config = {
  server: "[2001:db8::53]:5353",
  zone: "example.test",
  keyFile: "/etc/sixgate/tsig.key",
  ttl: 60,
};
const log = pino({ level: "silent" });
const OK: RunResult = { exitCode: 0, stdout: "", stderr: "" };
const BADSIG: RunResult = {
  exitCode: 2,
  stdout: "",
  stderr: "; TSIG error with server: tsig indicates error\nupdate failed: NOTAUTH(BADSIG)\n",
};

interface Call {
  argv: readonly string[];
  /** The address the script adds. */
  address: string | undefined;
  input: string;
}

/** A runner answering each nsupdate with `answer(call)` (a promise: the test may hold it). */
function scripted(
  answer: (call: Call, n: number) => RunResult | Promise<RunResult>,
): Runner & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    run: async (argv, options) => {
      const input = options?.input ?? "";
      const call = { argv, input, address: /AAAA (\S+)\n/.exec(input)?.[1] };
      calls.push(call);
      return answer(call, calls.length);
    },
    spawn: () => {
      throw new Error("not used");
    },
  };
}

const source = (wan: string | null, hostname: string | null = "cam.example.test"): RecordSource => ({
  wan: { address: wan },
  devices: [{ name: "cam", hostname }],
});

function started(
  runner: Runner,
  first: RecordSource,
): { dns: DnsUpdater; status: BehaviorSubject<RecordSource> } {
  const status = new BehaviorSubject(first);
  const dns = createDnsUpdater({ runner, log, config, retry: { initialMs: 5, maxMs: 20 } });
  dns.start(status);
  return { dns, status };
}

const record = (dns: DnsUpdater): DnsRecordStatus | undefined => dns.status().records[0];

test("the script replaces the name's AAAA records in one message, to the configured server and port", () => {
  assert.equal(
    updateScript(config, "cam.example.test", "2001:db8::80"),
    "server 2001:db8::53 5353\nzone example.test\nupdate delete cam.example.test. AAAA\n" +
      "update add cam.example.test. 60 AAAA 2001:db8::80\nsend\n",
  );
  assert.throws(() => updateScript(config, "cam.example.test", "2001:db8::80\nupdate delete example.test."));
  assert.throws(() => updateScript(config, "cam.other.test", "2001:db8::80"));
});

test("follows the address: one update per change, none for a status that changes nothing else", async (t) => {
  const runner = scripted(() => OK);
  const { dns, status } = started(runner, source("2001:db8:1::1"));
  t.after(() => dns.stop());
  await waitFor(() => record(dns)?.state === "ok", { timeoutMs: 2000 });
  const [call] = runner.calls;
  assert.ok(call);
  assert.deepEqual(call.argv, ["nsupdate", "-k", "/etc/sixgate/tsig.key", "-t", "5"]);
  assert.equal(call.address, "2001:db8:1::1");
  const first = record(dns);
  assert.ok(first);
  assert.equal(first.address, "2001:db8:1::1");
  assert.equal(first.lastError, null);
  assert.ok(first.updatedAt !== null && typeof first.latencyMs === "number");
  status.next(source("2001:db8:1::1"));
  status.next(source("2001:db8:2::1"));
  await waitFor(() => record(dns)?.state === "ok" && record(dns)?.address === "2001:db8:2::1", {
    timeoutMs: 2000,
  });
  assert.deepEqual(
    runner.calls.map((c) => c.address),
    ["2001:db8:1::1", "2001:db8:2::1"],
  );
});

test("a refused update is failed with the server's words and a hint, retried with backoff until it is taken", async (t) => {
  const runner = scripted((_call, n) => (n <= 3 ? BADSIG : OK));
  const { dns } = started(runner, source("2001:db8:1::1"));
  t.after(() => dns.stop());
  const failures: (string | null | undefined)[] = [];
  dns.changes.subscribe(() => {
    if (record(dns)?.state === "failed") failures.push(record(dns)?.lastError);
  });
  await waitFor(() => record(dns)?.state === "ok", { timeoutMs: 2000 });
  assert.equal(failures.length, 3);
  assert.match(failures[0] ?? "", /NOTAUTH\(BADSIG\).*check dns\.keyFile/);
  assert.equal(runner.calls.length, 4);
  assert.equal(record(dns)?.lastError, null);
});

test("a new address replaces the retries of the old one, and is sent only after an update in flight ends", async (t) => {
  let release: (() => void) | undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  const runner = scripted(async (call) => {
    if (call.address === "2001:db8:1::1") {
      await held;
      return BADSIG;
    }
    return OK;
  });
  const { dns, status } = started(runner, source("2001:db8:1::1"));
  t.after(() => dns.stop());
  await waitFor(() => runner.calls.length === 1, { timeoutMs: 2000 });
  status.next(source("2001:db8:2::1"));
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(runner.calls.length, 1, "the new address waits for the update in flight");
  release?.();
  await waitFor(() => record(dns)?.state === "ok", { timeoutMs: 2000 });
  assert.equal(record(dns)?.address, "2001:db8:2::1");
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(
    runner.calls.map((c) => c.address),
    ["2001:db8:1::1", "2001:db8:2::1"],
    "the old address is not retried",
  );
});

test("no address: the name is pending and nothing is sent; a hostname removed leaves the status", async (t) => {
  const runner = scripted(() => OK);
  const { dns, status } = started(runner, source(null));
  t.after(() => dns.stop());
  assert.deepEqual(dns.status(), {
    server: config.server,
    zone: "example.test",
    records: [
      {
        name: "cam.example.test",
        address: null,
        state: "pending",
        lastError: null,
        updatedAt: null,
        latencyMs: null,
      },
    ],
  });
  status.next(source("2001:db8:1::1", null));
  assert.deepEqual(dns.status().records, []);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(runner.calls.length, 0);
});

/** An in-memory record of the names written (stands in for stateDir/dns-names.json). */
function memoryNames(initial: string[] = []): OwnedNames & { saved: string[][] } {
  let names = new Set(initial);
  const saved: string[][] = [];
  return {
    saved,
    load: () => Promise.resolve(new Set(names)),
    save: (next) => {
      names = new Set(next);
      saved.push([...next].sort());
      return Promise.resolve();
    },
  };
}

const removed = (runner: { calls: Call[] }) =>
  runner.calls
    .filter((c) => !c.input.includes("update add"))
    .map((c) => /delete (\S+)\. AAAA/.exec(c.input)?.[1]);

test("a hostname renamed: the new name is written, the old one deleted from the zone and from the record", async (t) => {
  const runner = scripted(() => OK);
  const owned = memoryNames();
  const status = new BehaviorSubject(source("2001:db8:1::1"));
  const dns = createDnsUpdater({ runner, log, config, retry: { initialMs: 5, maxMs: 20 }, owned });
  dns.start(status);
  t.after(() => dns.stop());
  await waitFor(() => record(dns)?.state === "ok", { timeoutMs: 2000 });
  assert.deepEqual(owned.saved.at(-1), ["cam.example.test"], "recorded before it was sent");

  status.next(source("2001:db8:1::1", "camera.example.test"));
  await waitFor(() => removed(runner).length === 1 && record(dns)?.state === "ok", { timeoutMs: 2000 });
  assert.deepEqual(removed(runner), ["cam.example.test"]);
  assert.equal(
    runner.calls.find((c) => !c.input.includes("update add"))?.input,
    "server 2001:db8::53 5353\nzone example.test\nupdate delete cam.example.test. AAAA\nsend\n",
  );
  assert.deepEqual(
    dns.status().records.map((r) => r.name),
    ["camera.example.test"],
  );
  await waitFor(() => owned.saved.at(-1)?.join() === "camera.example.test", { timeoutMs: 2000 });
});

test("at start: a recorded name no longer configured is removed; one outside the zone and unrecorded ones are not touched", async (t) => {
  const runner = scripted(() => OK);
  const owned = memoryNames(["old.example.test", "cam.example.test", "gw.other.test"]);
  const dns = createDnsUpdater({ runner, log, config, retry: { initialMs: 5, maxMs: 20 }, owned });
  dns.start(new BehaviorSubject(source(null)));
  t.after(() => dns.stop());
  await waitFor(() => removed(runner).length === 1, { timeoutMs: 2000 });
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.deepEqual(removed(runner), ["old.example.test"], "cam is configured (no address yet): left alone");
  assert.equal(runner.calls.length, 1);
  await waitFor(() => owned.saved.at(-1)?.join() === "cam.example.test", { timeoutMs: 2000 });
});

test("a removal the server refuses is retried until it is taken, and a name configured again is written, not removed", async (t) => {
  let refuse = 2;
  const runner = scripted((call) => (!call.input.includes("update add") && refuse-- > 0 ? BADSIG : OK));
  const owned = memoryNames(["old.example.test"]);
  const dns = createDnsUpdater({ runner, log, config, retry: { initialMs: 5, maxMs: 20 }, owned });
  const status = new BehaviorSubject(source("2001:db8:1::1"));
  dns.start(status);
  t.after(() => dns.stop());
  await waitFor(() => owned.saved.at(-1)?.join() === "cam.example.test", { timeoutMs: 2000 });
  assert.deepEqual(removed(runner), ["old.example.test", "old.example.test", "old.example.test"]);

  // Back in the configuration: the next status writes it again.
  status.next({ ...source("2001:db8:1::1"), devices: [{ name: "cam", hostname: "old.example.test" }] });
  await waitFor(() => record(dns)?.name === "old.example.test" && record(dns)?.state === "ok", {
    timeoutMs: 2000,
  });
  assert.ok(
    runner.calls.some((c) => c.input.includes("update add old.example.test. 60 AAAA 2001:db8:1::1")),
    "written again",
  );
  // cam, written before and configured no more, goes in turn.
  await waitFor(() => removed(runner).includes("cam.example.test"), { timeoutMs: 2000 });
});
