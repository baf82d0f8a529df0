// The notification socket with real Unix sockets in a temporary directory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hotplugMessages, notifySocketPath } from "../../src/sources/hotplug.js";
import { makeStaleSocket, recordingLogger, startServer, waitFor, warnings } from "../hotplug/helpers.js";

const IFUP = '{"kind":"iface","action":"ifup","interface":"wan"}';
const LEASE = '{"kind":"dhcp","action":"add","mac":"02:00:00:00:01:00","ip":"192.168.1.100"}';

function connect(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path }, () => resolve(socket));
    socket.once("error", reject);
  });
}

/** Sends the chunks one write at a time, then half-closes; resolves when the server has closed the connection. */
async function send(path: string, ...chunks: (string | Buffer)[]): Promise<void> {
  const socket = await connect(path);
  socket.resume();
  for (const chunk of chunks) {
    await new Promise<void>((resolve, reject) => socket.write(chunk, (e) => (e ? reject(e) : resolve())));
  }
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.on("error", () => undefined);
  socket.end();
  await closed;
}

const closedWithin = (socket: Socket, ms: number) =>
  new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });

test("a good line is emitted, validated and normalised; the socket is 0600", async () => {
  const server = await startServer();
  try {
    const info = await stat(server.socketPath);
    assert.ok(info.isSocket());
    assert.equal(info.mode & 0o777, 0o600);
    await send(server.socketPath, `${IFUP}\n`);
    await send(server.socketPath, '{"kind":"dhcp","action":"add","mac":"02:AA:00:00:01:00"}\n');
    assert.deepEqual(await server.messages(2), [
      { kind: "iface", action: "ifup", interface: "wan" },
      { kind: "dhcp", action: "add", mac: "02:aa:00:00:01:00" },
    ]);
    assert.deepEqual(warnings(server.records), []);
  } finally {
    await server.stop();
  }
});

test("several lines on one connection, split anywhere, CRLF and a last line without newline", async () => {
  const server = await startServer();
  try {
    const text = `${IFUP}\r\n\n${LEASE}\n{"kind":"neigh","action":"remove"}`;
    await send(server.socketPath, ...Array.from(Buffer.from(text), (byte) => Buffer.from([byte])));
    assert.deepEqual(await server.messages(3), [
      { kind: "iface", action: "ifup", interface: "wan" },
      { kind: "dhcp", action: "add", mac: "02:00:00:00:01:00", ip: "192.168.1.100" },
      { kind: "neigh", action: "remove" },
    ]);
  } finally {
    await server.stop();
  }
});

test("bad lines are logged and dropped; good lines around them still arrive", async () => {
  const server = await startServer();
  try {
    await send(
      server.socketPath,
      "not json\n",
      '{"kind":"iface","action":"ifup","interface":"wan; reboot"}\n',
      `${IFUP}\n`,
      "\u0000\u00ff\n",
      '{"kind":"shutdown"}\n',
      `${LEASE}\n`,
    );
    assert.deepEqual(
      (await server.messages(2)).map((m) => m.kind),
      ["iface", "dhcp"],
    );
    await waitFor(() =>
      server.records.some((r) => r.msg === "dropped bad hotplug messages on one connection"),
    );
    const dropped = server.records.filter((r) => r.msg === "dropped a bad hotplug message");
    // The first three are logged one by one, then counted.
    assert.equal(dropped.length, 3);
    assert.match(String(dropped[0]?.reason), /not valid JSON/);
    assert.match(String(dropped[1]?.reason), /interface: must be an interface name/);
    assert.equal(
      server.records.find((r) => r.msg === "dropped bad hotplug messages on one connection")?.dropped,
      4,
    );
    // Untrusted bytes reach the log with control characters escaped.
    await send(server.socketPath, '{"kind":"iface","action":"ifup","interface":"\u001b[31mred"}\n');
    await waitFor(() => server.records.filter((r) => r.msg === "dropped a bad hotplug message").length === 4);
    const escaped = server.records.filter((r) => r.msg === "dropped a bad hotplug message")[3];
    assert.match(String(escaped?.reason), /not valid JSON/);
    assert.ok(String(escaped?.line).includes("\\u001b[31mred"), String(escaped?.line));
    assert.ok(!String(escaped?.line).includes("\u001b"));
    // The server keeps working for the next client.
    await send(server.socketPath, `${IFUP}\n`);
    assert.equal((await server.messages(3)).length, 3);
  } finally {
    await server.stop();
  }
});

test("an oversized line is dropped, in one piece or spread over many writes; the next line is served", async () => {
  const server = await startServer();
  try {
    const huge = `{"kind":"iface","action":"ifup","interface":"wan","x":"${"a".repeat(10000)}"}`;
    await send(server.socketPath, `${huge}\n${IFUP}\n`);
    const pieces = Array.from({ length: 20 }, () => "b".repeat(500));
    await send(server.socketPath, ...pieces, `\n${LEASE}\n`);
    assert.deepEqual(
      (await server.messages(2)).map((m) => m.kind),
      ["iface", "dhcp"],
    );
    const tooLong = server.records.filter((r) => String(r.reason).startsWith("line longer than 4096 bytes"));
    assert.equal(tooLong.length, 2);
    // What is logged of untrusted input is short.
    assert.ok(server.records.every((r) => JSON.stringify(r).length < 1000));
  } finally {
    await server.stop();
  }
});

test("a line of exactly the limit is accepted", async () => {
  const server = await startServer();
  try {
    const base = '{"kind":"iface","action":"ifup","interface":"wan"}';
    const line = base.slice(0, -1) + " ".repeat(4096 - base.length) + "}";
    assert.equal(Buffer.byteLength(line), 4096);
    await send(server.socketPath, `${line}\n`);
    assert.equal((await server.messages(1)).length, 1);
  } finally {
    await server.stop();
  }
});

test("a connection that sends too much is closed; the server keeps serving", async () => {
  const server = await startServer(undefined, { maxBytesPerConnection: 2000 });
  try {
    const socket = await connect(server.socketPath);
    socket.on("error", () => undefined);
    const closed = closedWithin(socket, 2000);
    for (let i = 0; i < 100; i++) socket.write(`${IFUP}\n`);
    assert.equal(await closed, true);
    assert.ok(warnings(server.records).includes("closed a hotplug connection that sent too much"));
    const before = server.received.length;
    assert.ok(before < 100, `only what fits in the byte budget arrives (${before})`);
    await send(server.socketPath, `${LEASE}\n`);
    await waitFor(() => server.received.length === before + 1);
  } finally {
    await server.stop();
  }
});

test("a connection that stays open too long is closed", async () => {
  const server = await startServer(undefined, { connectionTimeoutMs: 200 });
  try {
    const socket = await connect(server.socketPath);
    socket.on("error", () => undefined);
    socket.write('{"kind":"iface",');
    assert.equal(await closedWithin(socket, 2000), true);
    assert.ok(warnings(server.records).includes("closed a hotplug connection that stayed open too long"));
    assert.equal(server.received.length, 0);
  } finally {
    await server.stop();
  }
});

test("at most maxConnections at once; the rest are refused and the server recovers", async () => {
  const server = await startServer(undefined, { maxConnections: 4 });
  const open: Socket[] = [];
  try {
    for (let i = 0; i < 4; i++) open.push(await connect(server.socketPath));
    await new Promise((r) => setTimeout(r, 50));
    const extra = await connect(server.socketPath);
    extra.on("error", () => undefined);
    assert.equal(await closedWithin(extra, 2000), true);
    await waitFor(() =>
      warnings(server.records).includes("too many hotplug connections at once; refused one"),
    );
    for (const s of open) s.end();
    await new Promise((r) => setTimeout(r, 50));
    await send(server.socketPath, `${IFUP}\n`);
    assert.equal((await server.messages(1)).length, 1);
  } finally {
    for (const s of open) s.destroy();
    await server.stop();
  }
});

test("unsubscribing closes open connections and removes the socket file", async () => {
  const server = await startServer();
  const socket = await connect(server.socketPath);
  socket.on("error", () => undefined);
  const closed = closedWithin(socket, 2000);
  await server.stop();
  assert.equal(existsSync(server.socketPath), false);
  assert.equal(await closed, true);
});

test("a stale socket left by a killed agent is replaced, with mode 0600", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-hp-"));
  try {
    const path = notifySocketPath(dir);
    makeStaleSocket(path);
    assert.ok((await stat(path)).isSocket());
    const server = await startServer(dir);
    try {
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      await send(path, `${IFUP}\n`);
      assert.equal((await server.messages(1)).length, 1);
    } finally {
      await server.stop();
    }
    // Neither the socket nor the temporary name it was bound under is left behind.
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a socket somebody listens on is not taken over, and neither is a file that is not a socket", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-hp-"));
  const path = notifySocketPath(dir);
  try {
    const other = createServer((s) => {
      s.on("error", () => undefined);
      s.end("other\n");
    });
    await new Promise<void>((resolve) => other.listen(path, resolve));
    const { log, records } = recordingLogger();
    const sub = hotplugMessages(path, log).subscribe();
    await waitFor(() => records.some((r) => r.msg === "cannot serve hotplug notifications; retrying"));
    assert.match(String(records.find((r) => r.level === 50)?.error), /another process is listening/);
    sub.unsubscribe();
    // The other server still owns the path.
    const reply = await new Promise<string>((resolve) => {
      const s = createConnection({ path });
      s.on("error", () => undefined);
      s.on("data", (d) => {
        resolve(d.toString());
        s.end();
      });
    });
    assert.equal(reply, "other\n");
    await new Promise((resolve) => other.close(resolve));

    await writeFile(path, "precious\n");
    const second = recordingLogger();
    const sub2 = hotplugMessages(path, second.log).subscribe();
    await waitFor(() => second.records.some((r) => r.level === 50));
    assert.match(String(second.records.find((r) => r.level === 50)?.error), /exists and is not a socket/);
    sub2.unsubscribe();
    assert.equal(await readFile(path, "utf8"), "precious\n");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a runtimeDir too long for a Unix socket path is reported, not thrown", async () => {
  const { log, records } = recordingLogger();
  const sub = hotplugMessages(join("/tmp", "x".repeat(120), "notify.sock"), log).subscribe({
    error: () => assert.fail("the source must not error"),
  });
  await waitFor(() => records.some((r) => r.level === 50));
  assert.match(String(records.find((r) => r.level === 50)?.error), /too long for a Unix socket/);
  sub.unsubscribe();
});
