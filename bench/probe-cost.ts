// Run inside the lab's gateway namespace by lab-bench.ts: the device-hop probe as the agent makes it (a one-shot
// socat, pinned to the LAN interface) against node's unpinned connect, interleaved, one JSON line of timings.
import { performance } from "node:perf_hooks";
import { pino } from "pino";
import { createRunner } from "../src/effects/exec.js";
import { socatConnect, tcpConnect } from "../src/effects/probes.js";

const [device = "", lanAddress = "", lanInterface = "", portText = "80", samplesText = "20"] =
  process.argv.slice(2);
const runner = createRunner(pino({ level: "silent" }));
const base = { host: device, port: Number(portText), localAddress: lanAddress, timeoutMs: 2000 };
const socat: number[] = [];
const node: number[] = [];
for (let i = 0; i < Number(samplesText); i++) {
  let started = performance.now();
  const pinned = await socatConnect(runner, { ...base, device: lanInterface });
  socat.push(performance.now() - started);
  started = performance.now();
  const plain = await tcpConnect(base);
  node.push(performance.now() - started);
  if (!pinned.ok || !plain.ok) throw new Error(`probe failed: ${pinned.error ?? plain.error ?? "?"}`);
}
process.stdout.write(`${JSON.stringify({ socat, node })}\n`);
