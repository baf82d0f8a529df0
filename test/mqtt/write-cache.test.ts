// The agent's MQTT client does not build mqtt-packet's cache of all 65,536 message-id buffers (about 7 MB of
// heap, bench/heap-by-module.ts) for a session that sends a few messages a minute. No other MQTT client runs in
// this process: the cache is per process, and any client with the default options would fill it.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, test } from "node:test";
import { Subject } from "rxjs";
import { startMqtt } from "../../src/mqtt/index.js";
import { FakeControl } from "../fakes/control.js";
import { startBroker, type Broker } from "./broker.js";
import { eventually } from "./observer.js";
import { memoryLogger, testConfig } from "./support.js";

/** The cache mqtt-packet's writer fills on its first packet unless told not to (mqtt's writeCache option). */
const numberCache = createRequire(import.meta.url)("mqtt-packet/numbers.js") as {
  cache: Record<number, Buffer>;
};

let broker: Broker;
before(async () => {
  broker = await startBroker();
});
after(() => broker.destroy());

test("a connected session leaves the message-id cache empty", { timeout: 30000 }, async () => {
  const handle = startMqtt({
    config: testConfig(broker),
    control: new FakeControl(),
    log: memoryLogger().log,
    version: "9.9.9",
    hostname: "gw1",
    probeReports: new Subject(),
  });
  try {
    // CONNECT carries the keepalive, a 16-bit number written the way message ids are (cached or not).
    await eventually(() => handle.connected, "connected");
    assert.equal(Object.keys(numberCache.cache).length, 0);
  } finally {
    await handle.stop();
  }
});
