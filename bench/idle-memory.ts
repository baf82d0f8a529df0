// The agent's idle memory: the single-file build (dist/sixgate.mjs, as installed) serving in the lab, under each
// Node line and each set of node flags, its VmRSS once serving and again after an idle period (growth), next to
// an empty node process of the same line. Prints JSON, writes bench/results/memory.json.
//
//   node --import tsx bench/idle-memory.ts          idle 20 s per run
//   BENCH_IDLE_S=3600 node --import tsx bench/idle-memory.ts   the one-hour run
//   BENCH_NODE_LINES="24" ...                       only these lines (default: this node, then 22 24 26)
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readStatus } from "../test/lab/agent.js";
import { createLab, waitFor, type Lab } from "../test/lab/lab.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BUNDLE = join(ROOT, "dist/sixgate.mjs");
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 20);
const LINES = (process.env.BENCH_NODE_LINES ?? "22 24 26").split(/\s+/).filter(Boolean);
/**
 * The flags systemd/sixgate.service and openwrt/sixgate.init ship, and the ones they were chosen against.
 * BENCH_FLAG_SETS='{"name":["--flag"]}' measures others.
 */
const FLAG_SETS: Record<string, string[]> = process.env.BENCH_FLAG_SETS
  ? (JSON.parse(process.env.BENCH_FLAG_SETS) as Record<string, string[]>)
  : {
      none: [],
      jitless: ["--jitless"],
      "semi-1": ["--max-semi-space-size=1"],
      shipped: ["--jitless", "--max-semi-space-size=1"],
    };

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** VmRSS of `node -e <wait>`: what node itself costs on this line. */
async function emptyNodeKiB(node: string): Promise<number> {
  const child = spawn(node, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
  try {
    await sleep(1500);
    return rssKiB(child.pid ?? 0);
  } finally {
    child.kill("SIGKILL");
  }
}

async function agentKiB(lab: Lab, node: string, flags: string[], config: string) {
  const child = spawn("ip", ["netns", "exec", lab.ns.gw, node, ...flags, BUNDLE, "run", "--config", config], {
    stdio: "ignore",
  });
  const pid = child.pid ?? 0;
  try {
    await waitFor(
      async () => (await readStatus(lab.ns.gw, config).catch(() => undefined))?.phase === "serving",
      {
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
    // Startup garbage collected, timers armed: the idle state starts here.
    await sleep(3000);
    const serving = rssKiB(pid);
    await sleep(IDLE_S * 1000);
    const idle = rssKiB(pid);
    return { servingKiB: serving, afterIdleKiB: idle, growthKiB: idle - serving };
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
}

async function main(): Promise<void> {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run "npm run build" first`);
  const nodes: [string, string][] = [[process.version, process.execPath]];
  for (const line of LINES) {
    const bin = execFileSync("bash", [join(ROOT, "scripts/node-line.sh"), line], { encoding: "utf8" }).trim();
    const node = join(bin, "node");
    nodes.push([execFileSync(node, ["--version"], { encoding: "utf8" }).trim(), node]);
  }
  const results: Record<string, unknown> = { date: new Date().toISOString(), idleSeconds: IDLE_S };
  const lab = await createLab();
  try {
    const config = await lab.writeConfig({}, "bench-memory.yaml");
    for (const [version, node] of nodes) {
      const perFlags: Record<string, unknown> = { emptyNodeKiB: await emptyNodeKiB(node) };
      for (const [name, flags] of Object.entries(FLAG_SETS))
        perFlags[name] = await agentKiB(lab, node, flags, config);
      results[version] = perFlags;
      process.stderr.write(`${version}: ${JSON.stringify(perFlags)}\n`);
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
