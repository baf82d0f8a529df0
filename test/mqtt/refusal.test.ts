// A broker that refuses the connection for a reason the operator can fix: the log and the handle say what to do.
// Mosquitto 2.0.12 and later answer an MQTT 3.1.1 client whose keepalive is above max_keepalive with CONNACK
// "identifier rejected" (return code 2). The Mosquitto of Debian 12 (2.0.11) applies max_keepalive to MQTT 5 only
// and has no way left to refuse our client with that code, so a scripted broker on loopback sends those four bytes.
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { mqttConfigSchema } from "../../src/mqtt/index.js";
import { eventually } from "./observer.js";
import { memoryLogger, startTestSession } from "./support.js";

/** CONNACK (type 2, remaining length 2), no session present, return code 2: identifier rejected. */
const CONNACK_IDENTIFIER_REJECTED = Buffer.from([0x20, 0x02, 0x00, 0x02]);

let server: Server;
let port = 0;
const sockets = new Set<Socket>();

before(async () => {
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.once("data", () => socket.end(CONNACK_IDENTIFIER_REJECTED));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address !== "object") throw new Error("no port");
  port = address.port;
});

after(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe("mqtt refusals", { timeout: 30000 }, () => {
  test("identifier rejected: the log and the handle name the client id and keepalive vs max_keepalive", async () => {
    const memory = memoryLogger();
    const config = mqttConfigSchema.parse({
      url: `mqtt://127.0.0.1:${port}`,
      baseTopic: "sixgate/refused",
      clientId: "gw1-refused",
      keepalive: 60,
    });
    const handle = startTestSession(config, memory.log);
    try {
      await eventually(() => /identifier rejected/i.test(memory.text()), "the refusal in the log");
      assert.equal(handle.connected, false);
      const warning = memory.lines.find((l) => /identifier rejected/i.test(l)) ?? "";
      assert.match(warning, /"level":40/);
      assert.match(warning, /max_keepalive/);
      assert.match(warning, /keepalive \(60 s\)/);
      assert.match(warning, /gw1-refused/);
      assert.match(handle.view().lastError ?? "", /max_keepalive/);
    } finally {
      await handle.stop();
    }
  });
});
