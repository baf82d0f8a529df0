// Growth over a long idle run: the bundled agent with the shipped flags, serving in the lab and connected to a
// Mosquitto broker on the gateway namespace's loopback, its memory sampled every minute for an hour. Reports the
// first and last samples and the least-squares slope (KiB per hour, over the run and over its second half) of RSS
// and of the used heap; the results file is rewritten after every sample, so an interrupted run still leaves its
// figures.
//
//   npm run bench -- idle-hour                                 Node 24, one hour (scripts/bench.sh)
//   BENCH_IDLE_S=600 BENCH_SAMPLE_S=10 node --import tsx bench/idle-hour.ts     shorter
//   BENCH_NODE_LINES=22 ...                                    another line
//   BENCH_BUNDLE=/tmp/sixgate.mjs ...                          another build (default dist/sixgate.mjs)
//   BENCH_OUT=/tmp/idle-hour.json ...                          another results file
//   BENCH_FLAGS="--jitless --optimize-for-size" ...            other node flags (default: the shipped ones)
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createLab } from "../test/lab/lab.js";
import { sleep } from "../test/lab/util.js";
import {
  ensureBroker,
  nodeLines,
  SHIPPED_FLAGS,
  startIdleAgent,
  stopIdleAgent,
  type ProbeSample,
} from "./memory-lab.js";

const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 3600);
const SAMPLE_S = Number(process.env.BENCH_SAMPLE_S ?? 60);
const OUT = new URL(process.env.BENCH_OUT ?? "./results/idle-hour.json", import.meta.url);
const FLAGS = process.env.BENCH_FLAGS?.split(/\s+/).filter(Boolean) ?? SHIPPED_FLAGS;

/** Least-squares slope of y over t, in y units per hour (t in ms). */
export function slopePerHour(points: { t: number; y: number }[]): number {
  if (points.length < 2) return 0;
  const n = points.length;
  const mt = points.reduce((s, p) => s + p.t, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const cov = points.reduce((s, p) => s + (p.t - mt) * (p.y - my), 0);
  const varT = points.reduce((s, p) => s + (p.t - mt) ** 2, 0);
  return varT === 0 ? 0 : (cov / varT) * 3_600_000;
}

const kib = (bytes: number) => Math.round(bytes / 1024);

function summary(samples: ProbeSample[], field: "rss" | "heapUsed" | "heapTotal" | "external") {
  const first = samples[0];
  const last = samples.at(-1);
  if (first === undefined || last === undefined) return undefined;
  const values = samples.map((s) => s[field]);
  return {
    firstKiB: kib(first[field]),
    lastKiB: kib(last[field]),
    minKiB: kib(Math.min(...values)),
    maxKiB: kib(Math.max(...values)),
    slopeKiBPerHour: Math.round(slopePerHour(samples.map((s) => ({ t: s.t, y: s[field] / 1024 })))),
    // The heap settles into its garbage-collection rhythm in the first quarter hour or so; growth after that
    // is what would exhaust a small gateway.
    secondHalfSlopeKiBPerHour: Math.round(
      slopePerHour(
        samples.slice(Math.floor(samples.length / 2)).map((s) => ({ t: s.t, y: s[field] / 1024 })),
      ),
    ),
  };
}

async function main(): Promise<void> {
  const [line] = nodeLines(process.env.BENCH_NODE_LINES ?? "24").slice(-1);
  if (line === undefined) throw new Error("no node line");
  const [version, node] = line;
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  const lab = await createLab();
  try {
    await ensureBroker(lab);
    const agent = await startIdleAgent(lab, {
      name: "idle-hour",
      node,
      setup: { flags: FLAGS },
      bundle: process.env.BENCH_BUNDLE,
      mqtt: true,
      probeMs: SAMPLE_S * 1000,
    });
    const started = new Date().toISOString();
    const write = async (done: boolean) => {
      const samples = await agent.samples();
      const result = {
        node: version,
        bundle: process.env.BENCH_BUNDLE ?? "dist/sixgate.mjs",
        flags: FLAGS,
        mqtt: true,
        started,
        done,
        plannedSeconds: IDLE_S,
        sampleSeconds: SAMPLE_S,
        samples: samples.length,
        elapsedSeconds:
          samples.length < 2 ? 0 : Math.round(((samples.at(-1)?.t ?? 0) - (samples[0]?.t ?? 0)) / 1000),
        rss: summary(samples, "rss"),
        heapUsed: summary(samples, "heapUsed"),
        heapTotal: summary(samples, "heapTotal"),
        external: summary(samples, "external"),
        series: samples.map((s) => ({
          t: new Date(s.t).toISOString(),
          rssKiB: kib(s.rss),
          heapUsedKiB: kib(s.heapUsed),
        })),
      };
      writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
      return result;
    };
    try {
      const deadline = Date.now() + IDLE_S * 1000;
      while (Date.now() < deadline) {
        await sleep(Math.min(SAMPLE_S * 1000, deadline - Date.now()));
        if (agent.proc.exitInfo !== undefined)
          throw new Error(`the agent exited: ${lab.readLog("idle-hour")}`);
        const r = await write(false);
        process.stderr.write(
          `${r.elapsedSeconds} s: rss ${JSON.stringify(r.rss)} heapUsed ${JSON.stringify(r.heapUsed)}\n`,
        );
      }
      const result = await write(true);
      // The series is in the file; the summary is what a reader wants on the terminal.
      const summaryOnly = JSON.stringify(
        result,
        (key, value: unknown) => (key === "series" ? undefined : value),
        2,
      );
      process.stdout.write(`${summaryOnly}\nwritten to ${fileURLToPath(OUT)}\n`);
    } finally {
      await stopIdleAgent(agent);
    }
  } finally {
    await lab.destroy();
  }
}

await main();
