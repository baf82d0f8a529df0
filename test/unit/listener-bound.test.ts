// Readiness of a listener from /proc (effects/listeners/bound.ts): the table parser on kernel text, and listensOn
// against real sockets of real processes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:net";
import { listeningSockets, listensOn } from "../../src/effects/listeners/bound.js";

// From /proc/net/tcp6: [::1]:8080 listening (0A, inode 4242), a connection to it (01), [::]:22 listening.
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:D431 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1 0000000000000000 100 0 0 10 0
`;

test("listeningSockets: only sockets in LISTEN, by local port", () => {
  assert.deepEqual(
    [...listeningSockets(TCP6)],
    [
      [8080, ["4242"]],
      [22, ["17"]],
    ],
    "the connection (01) is left out, and its remote port 54321 is not ours",
  );
  assert.deepEqual([...listeningSockets("")], []);
});

async function listening(): Promise<{ server: Server; port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "::1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return { server, port: address.port };
}

test("listensOn: true for the process holding the listening socket, false for another process and a free port", async (t) => {
  const { server, port } = await listening();
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  assert.equal(await listensOn(process.pid, port), true);

  // Same network namespace, the port in the table, a listening socket of its own, but not that one.
  const otherPort = port === 65535 ? port - 1 : port + 1;
  const other = spawn("socat", [`TCP6-LISTEN:${otherPort},bind=[::1],reuseaddr`, "OPEN:/dev/null"], {
    stdio: "ignore",
  });
  t.after(() => other.kill());
  const otherPid = other.pid;
  assert.ok(otherPid !== undefined);
  const deadline = Date.now() + 3000;
  while (!(await listensOn(otherPid, otherPort)) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 10));
  assert.equal(await listensOn(otherPid, otherPort), true, "socat's own listening socket");
  assert.equal(await listensOn(otherPid, port), false, "this process's socket is not socat's");

  const closed = await listening();
  await new Promise<void>((r) => closed.server.close(() => r()));
  assert.equal(await listensOn(process.pid, closed.port), false, "a port no longer listened on");
});

test("listensOn: false for a process that is gone", async () => {
  const gone = spawn("true", { stdio: "ignore" });
  await new Promise((r) => gone.once("exit", r));
  assert.ok(gone.pid !== undefined);
  assert.equal(await listensOn(gone.pid, 22), false);
});
