// The agent's idle memory (VmRSS), as the service runs it: the bundled build (dist/sixgate.mjs and its chunks) with the
// shipped flags, serving in the lab. For each Node line, side by side: an empty node, node that only loaded the
// bundle, the idle agent without MQTT, and with MQTT (a Mosquitto on the gateway namespace's loopback). Then, on
// one line, the agent under each candidate flag set. BENCH_BUNDLES compares builds (before/after) instead of dist.
// Prints JSON, writes bench/results/memory.json. Growth over an hour: bench/idle-hour.ts.
//
//   node --import tsx bench/idle-memory.ts
//   BENCH_NODE_LINES="24"                      only these lines (default: this node, then 22 24 26)
//   BENCH_FLAG_LINE=24                         the line the flag sets are measured on ("" = none)
//   BENCH_FLAG_SETS='{"name":{"flags":["--flag"],"env":{"VAR":"1"}}}'   other flag sets
//   BENCH_BUNDLES="before=/tmp/old.mjs after=dist/sixgate.mjs"   these builds side by side on every line
//   BENCH_REPEAT=3                             median of this many agent runs per figure (default 1)
import { mkdirSync, writeFileSync } from "node:fs";
import { createLab, type Lab } from "../test/lab/lab.js";
import {
  BUNDLE,
  EMPTY_SCRIPT,
  idleAgentKiB,
  idleNodeKiB,
  loadOnlyScript,
  nodeLines,
  SHIPPED_FLAGS,
  type NodeSetup,
} from "./memory-lab.js";

const REPEAT = Math.max(1, Number(process.env.BENCH_REPEAT ?? 1));
const FLAG_LINE = process.env.BENCH_FLAG_LINE ?? "24";

/**
 * The shipped set (systemd/sixgate.service, openwrt/sixgate.init) and the candidates it was chosen against;
 * docs/operations.md gives the figures.
 */
const FLAG_SETS: Record<string, NodeSetup> = process.env.BENCH_FLAG_SETS
  ? (JSON.parse(process.env.BENCH_FLAG_SETS) as Record<string, NodeSetup>)
  : {
      none: { flags: [] },
      jitless: { flags: ["--jitless"] },
      "semi-1": { flags: ["--max-semi-space-size=1"] },
      shipped: { flags: SHIPPED_FLAGS },
      "shipped+optimize-for-size": { flags: [...SHIPPED_FLAGS, "--optimize-for-size"] },
      "shipped+lite-mode": { flags: [...SHIPPED_FLAGS, "--lite-mode"] },
      "shipped+max-old-32": { flags: [...SHIPPED_FLAGS, "--max-old-space-size=32"] },
      "shipped+v8-pool-1": { flags: [...SHIPPED_FLAGS, "--v8-pool-size=1"] },
      "shipped+uv-threads-1": { flags: SHIPPED_FLAGS, env: { UV_THREADPOOL_SIZE: "1" } },
      "shipped+single-threaded": { flags: [...SHIPPED_FLAGS, "--single-threaded"] },
      // glibc's allocator keeps an arena per thread that allocates; musl (OpenWrt) has none to limit.
      "shipped+malloc-arena-2": { flags: SHIPPED_FLAGS, env: { MALLOC_ARENA_MAX: "2" } },
    };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function repeated(measure: () => Promise<number>, repeat = REPEAT): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < repeat; i++) xs.push(await measure());
  return median(xs);
}

let runs = 0;
/** The idle agent without and with MQTT, in KiB. */
async function agentFigures(lab: Lab, node: string, setup: NodeSetup, bundle = BUNDLE, repeat = REPEAT) {
  const agent = (mqtt: boolean) =>
    repeated(() => idleAgentKiB(lab, { name: `agent-${++runs}`, node, setup, bundle, mqtt }), repeat);
  return { agentKiB: await agent(false), agentMqttKiB: await agent(true) };
}

type Figures = Record<string, number>;

async function lineFigures(
  lab: Lab,
  node: string,
  setup: NodeSetup,
  bundle = BUNDLE,
  repeat = REPEAT,
): Promise<Figures> {
  return {
    emptyNodeKiB: await repeated(() => idleNodeKiB(node, setup, EMPTY_SCRIPT), repeat),
    bundleLoadedKiB: await repeated(() => idleNodeKiB(node, setup, loadOnlyScript(bundle)), repeat),
    ...(await agentFigures(lab, node, setup, bundle, repeat)),
  };
}

/** The median of each figure over several runs. */
function medians(runs: Figures[]): Figures {
  const keys = Object.keys(runs[0] ?? {});
  return Object.fromEntries(keys.map((k) => [k, median(runs.map((r) => r[k] ?? NaN))]));
}

function bundlesToCompare(): [string, string][] {
  return (process.env.BENCH_BUNDLES ?? "")
    .split(/\s+/)
    .filter(Boolean)
    .map((pair) => {
      const [name, path] = pair.split("=");
      if (!name || !path) throw new Error(`BENCH_BUNDLES: "${pair}" is not name=path`);
      return [name, path];
    });
}

/** Each build's figures on one line, the median of REPEAT interleaved runs (a change in load favours none). */
async function compareBundles(lab: Lab, node: string, bundles: [string, string][]) {
  const perBundle = new Map<string, Figures[]>(bundles.map(([name]) => [name, []]));
  for (let round = 0; round < REPEAT; round++) {
    for (const [name, path] of bundles)
      perBundle.get(name)?.push(await lineFigures(lab, node, { flags: SHIPPED_FLAGS }, path, 1));
  }
  return Object.fromEntries(
    bundles.map(([name, path]) => [name, { path, ...medians(perBundle.get(name) ?? []) }]),
  );
}

async function main(): Promise<void> {
  const nodes = nodeLines();
  const flagNode = nodes.find(([version]) => FLAG_LINE !== "" && version.startsWith(`v${FLAG_LINE}.`));
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    note: "VmRSS in KiB, median of `repeat` runs; the agent measured 5 s after it serves (log level info)",
    repeat: REPEAT,
    shippedFlags: SHIPPED_FLAGS,
  };
  const lab = await createLab();
  try {
    const bundles = bundlesToCompare();
    const lines: Record<string, unknown> = {};
    for (const [version, node] of nodes) {
      lines[version] =
        bundles.length === 0
          ? await lineFigures(lab, node, { flags: SHIPPED_FLAGS })
          : await compareBundles(lab, node, bundles);
      process.stderr.write(`${version}: ${JSON.stringify(lines[version])}\n`);
    }
    results.lines = lines;
    if (flagNode !== undefined) {
      const [version, node] = flagNode;
      const flags: Record<string, unknown> = { node: version };
      for (const [name, setup] of Object.entries(FLAG_SETS)) {
        flags[name] = await agentFigures(lab, node, setup);
        process.stderr.write(`${version} ${name}: ${JSON.stringify(flags[name])}\n`);
      }
      results.flags = flags;
    }
  } finally {
    await lab.destroy();
  }
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  const text = JSON.stringify(results, null, 2);
  writeFileSync(new URL("./results/memory.json", import.meta.url), `${text}\n`);
  process.stdout.write(`${text}\nwritten to bench/results/memory.json\n`);
}

await main();
