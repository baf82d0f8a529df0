// `sixgate notify` against a real socket server, against nothing, and with bad arguments.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NOTIFY_EXIT, notifyCommand, sendNotification } from "../../src/cli/notify.js";
import { notifySocketPath } from "../../src/sources/hotplug.js";
import { makeStaleSocket, startServer } from "../hotplug/helpers.js";

/** Runs notifyCommand with stderr captured. */
async function notify(runtimeDir: string, kind: string | undefined, args: string[]) {
  const original = process.stderr.write.bind(process.stderr);
  let stderr = "";
  process.stderr.write = (chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  };
  const started = performance.now();
  try {
    const code = await notifyCommand(runtimeDir, kind, args);
    return { code, stderr, ms: performance.now() - started };
  } finally {
    process.stderr.write = original;
  }
}

test("notify delivers one validated message to a running agent and exits 0", async () => {
  const server = await startServer();
  try {
    const result = await notify(server.dir, "dhcp", [
      "action=add",
      "mac=02:00:00:00:01:00",
      "ip=192.168.1.100",
    ]);
    assert.deepEqual(result, { code: 0, stderr: "", ms: result.ms });
    assert.ok(result.ms < 1000);
    assert.deepEqual(await server.messages(1), [
      { kind: "dhcp", action: "add", mac: "02:00:00:00:01:00", ip: "192.168.1.100" },
    ]);
  } finally {
    await server.stop();
  }
});

test("notify exits 0 at once when no agent runs: no runtime dir, or a stale socket", async () => {
  const missing = await notify("/nonexistent/sixgate", "iface", ["action=ifup", "interface=wan"]);
  assert.equal(missing.code, 0);
  assert.match(missing.stderr, /no agent is listening on \/nonexistent\/sixgate\/notify\.sock \(ENOENT\)/);
  assert.ok(missing.ms < 500);

  const dir = await mkdtemp(join(tmpdir(), "sixgate-hp-"));
  try {
    makeStaleSocket(notifySocketPath(dir));
    const refused = await notify(dir, "iface", ["action=ifdown", "interface=wan"]);
    assert.equal(refused.code, 0);
    assert.match(refused.stderr, /ECONNREFUSED/);
    assert.ok(refused.ms < 500);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("notify refuses bad arguments with exit 64 and says what is wrong", async () => {
  const cases: [string | undefined, string[], RegExp][] = [
    [undefined, [], /missing kind/],
    ["wifi", ["action=up"], /unknown kind "wifi"/],
    ["iface", ["action=ifup"], /interface: is required/],
    ["dhcp", ["action=add", "mac=02:00:00:00:01"], /mac: must be a MAC address/],
    ["dhcp", ["add"], /expected key=value, got "add"/],
  ];
  for (const [kind, args, message] of cases) {
    const result = await notify("/nonexistent/sixgate", kind, args);
    assert.equal(result.code, NOTIFY_EXIT.usage, `${String(kind)} ${args.join(" ")}`);
    assert.match(result.stderr, message);
    assert.match(result.stderr, /usage: sixgate notify iface/);
  }
});

test("notify gives up within a second on an agent that accepts but never answers", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-hp-"));
  const held: Socket[] = [];
  // Accepts, never reads, never closes.
  const wedged = createServer((s) => {
    s.pause();
    held.push(s);
  });
  await new Promise<void>((resolve) => wedged.listen(notifySocketPath(dir), resolve));
  try {
    const result = await notify(dir, "iface", ["action=ifup", "interface=wan"]);
    // The line went into the socket buffer, so the agent will read it when it can: that counts as sent.
    assert.equal(result.code, 0);
    assert.ok(result.ms >= 700 && result.ms < 1000, `took ${result.ms} ms`);
  } finally {
    for (const s of held) s.destroy();
    await new Promise((resolve) => wedged.close(resolve));
    await rm(dir, { recursive: true, force: true });
  }
});

test("sendNotification reports a timeout when the line cannot even be written", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-hp-"));
  const held: Socket[] = [];
  const wedged = createServer((s) => {
    s.pause();
    held.push(s);
  });
  await new Promise<void>((resolve) => wedged.listen(notifySocketPath(dir), resolve));
  try {
    // Far more than a Unix socket buffers: the write never completes.
    const outcome = await sendNotification(
      notifySocketPath(dir),
      { kind: "iface", action: "ifup", interface: "wan", device: "x".repeat(8 * 1024 * 1024) },
      300,
    );
    assert.deepEqual(outcome, { kind: "timeout" });
  } finally {
    for (const s of held) s.destroy();
    await new Promise((resolve) => wedged.close(resolve));
    await rm(dir, { recursive: true, force: true });
  }
});
