// Preloaded into the agent by the memory benches (`node --import bench/memory-probe.js dist/sixgate.mjs run ...`):
// appends one JSON line of process.memoryUsage() (bytes) and t (ms since the epoch) to SIXGATE_BENCH_PROBE_FILE
// every SIXGATE_BENCH_PROBE_MS (default a minute). Its timer is unref'd: it never keeps the agent alive.
import { appendFileSync } from "node:fs";
import process from "node:process";
import { setInterval } from "node:timers";

const file = process.env.SIXGATE_BENCH_PROBE_FILE;
const everyMs = Number(process.env.SIXGATE_BENCH_PROBE_MS ?? 60_000);
if (file !== undefined && everyMs > 0) {
  const sample = () =>
    appendFileSync(file, `${JSON.stringify({ t: Date.now(), ...process.memoryUsage() })}\n`);
  setInterval(sample, everyMs).unref();
}
