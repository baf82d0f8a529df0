// What the memory benches share: the Node lines to measure, VmRSS of a process, and the bundled agent idling in
// a lab (with or without a Mosquitto broker on the gateway namespace's loopback), sampled by bench/memory-probe.js.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { LAB_MQTT, startLabBroker } from "../test/lab/broker.js";
import { sleep, waitFor, type Lab, type LabProcess } from "../test/lab/lab.js";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** The bundled build's entry (its chunks beside it), as installed. */
export const BUNDLE = join(ROOT, "dist/sixgate.mjs");
const PROBE = pathToFileURL(join(ROOT, "bench/memory-probe.js")).href;

/** The node flags systemd/sixgate.service and openwrt/sixgate.init ship. */
export const SHIPPED_FLAGS = ["--jitless", "--max-semi-space-size=1", "--expose-gc"];

/** A way to start node: flags before the script, and environment variables. */
export interface NodeSetup {
  flags: string[];
  env?: Record<string, string>;
}

/** VmRSS of a process in KiB (resident memory as the kernel counts it, shared pages included). */
export function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? NaN);
}

/** This node first, then the lines in BENCH_NODE_LINES (default 22 24 26) from scripts/node-line.sh. */
export function nodeLines(defaults = "22 24 26"): [version: string, path: string][] {
  const lines = (process.env.BENCH_NODE_LINES ?? defaults).split(/\s+/).filter(Boolean);
  const nodes: [string, string][] = [[process.version, process.execPath]];
  for (const line of lines) {
    const bin = execFileSync("bash", [join(ROOT, "scripts/node-line.sh"), line], { encoding: "utf8" }).trim();
    const node = join(bin, "node");
    const version = execFileSync(node, ["--version"], { encoding: "utf8" }).trim();
    if (!nodes.some(([v]) => v === version)) nodes.push([version, node]);
  }
  return nodes;
}

function envArgv(setup: NodeSetup): string[] {
  const env = Object.entries(setup.env ?? {}).map(([k, v]) => `${k}=${v}`);
  return env.length > 0 ? ["env", ...env] : [];
}

/**
 * VmRSS of a node process 1 s after it ran `script` (ES module source) and said so: the script's last step
 * writes a line to stderr (a fixed delay would measure a process still starting on a loaded machine).
 */
export async function idleNodeKiB(node: string, setup: NodeSetup, script: string): Promise<number> {
  const argv = [...envArgv(setup), node, ...setup.flags, "--input-type=module", "-e", `${script}\n${READY}`];
  const [command, ...args] = argv;
  const child = spawn(command ?? node, args, { stdio: ["ignore", "ignore", "pipe"] });
  try {
    let said = "";
    child.stderr.on("data", (chunk: Buffer) => (said += chunk.toString()));
    await waitFor(() => said.includes("ready") || child.exitCode !== null, {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    if (child.exitCode !== null) throw new Error(`${node} ${args.join(" ")} exited: ${said}`);
    await sleep(1000);
    return rssKiB(child.pid ?? 0);
  } finally {
    child.kill("SIGKILL");
  }
}

const READY = 'process.stderr.write("ready\\n");';

/** Node doing nothing. */
export const EMPTY_SCRIPT = "setInterval(() => {}, 60_000);";

/**
 * Node that loaded the bundle and ran its top level (`--version`: no config, no command), then idles: what
 * parsing and initialising the bundle costs before the agent does anything.
 */
export function loadOnlyScript(bundle: string): string {
  return [
    "setInterval(() => {}, 60_000);",
    "process.exit = () => undefined;",
    "process.stdout.write = () => true;",
    `process.argv = [process.argv[0], ${JSON.stringify(bundle)}, "--version"];`,
    `await import(${JSON.stringify(pathToFileURL(bundle).href)});`,
  ].join("\n");
}

/** One sample of bench/memory-probe.js: process.memoryUsage() in bytes, at t ms since the epoch. */
export interface ProbeSample {
  t: number;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export interface IdleAgent {
  proc: LabProcess;
  /** The probe's samples so far (none when started without a probe). */
  samples(): Promise<ProbeSample[]>;
}

/**
 * Starts the bundled agent in the lab's gateway namespace and waits until it serves (and, with mqtt, until it is
 * connected to the lab broker, which must already run: startLabBroker). With probeMs, bench/memory-probe.js
 * samples its memory every probeMs into the lab directory. Log level info, as the service ships.
 */
export async function startIdleAgent(
  lab: Lab,
  opts: { name: string; node: string; setup: NodeSetup; bundle?: string; mqtt: boolean; probeMs?: number },
): Promise<IdleAgent> {
  const bundle = opts.bundle ?? BUNDLE;
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run "npm run build" first`);
  const config = await lab.writeConfig(
    { logLevel: "info", ...(opts.mqtt ? { mqtt: LAB_MQTT } : {}) },
    `${opts.name}.yaml`,
  );
  const samplesFile = join(lab.dir, `${opts.name}.samples`);
  const probe = opts.probeMs === undefined ? [] : ["--import", PROBE];
  const env = {
    ...opts.setup.env,
    ...(opts.probeMs === undefined
      ? {}
      : { SIXGATE_BENCH_PROBE_FILE: samplesFile, SIXGATE_BENCH_PROBE_MS: String(opts.probeMs) }),
  };
  const argv = [
    ...envArgv({ flags: [], env }),
    opts.node,
    ...opts.setup.flags,
    ...probe,
    bundle,
    "run",
    "--config",
    config,
  ];
  const proc = lab.spawn("gw", argv, opts.name);
  const statusFile = join(lab.dir, "run", "status.json");
  await waitFor(
    async () => {
      if (proc.exitInfo !== undefined) throw new Error(`${opts.name} exited: ${lab.readLog(opts.name)}`);
      const status = JSON.parse(await readFile(statusFile, "utf8").catch(() => "{}")) as {
        pid?: number;
        phase?: string;
        mqtt?: { connected?: boolean } | null;
      };
      return status.pid === proc.pid && status.phase === "serving" && (!opts.mqtt || status.mqtt?.connected);
    },
    { timeoutMs: 60_000, intervalMs: 200, message: () => lab.readLog(opts.name) },
  );
  return {
    proc,
    async samples() {
      const text = await readFile(samplesFile, "utf8").catch(() => "");
      return text
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as ProbeSample);
    },
  };
}

/** Stops an agent started by startIdleAgent and waits for it (it removes its rules and listeners). */
export async function stopIdleAgent(agent: IdleAgent): Promise<void> {
  if (agent.proc.exitInfo !== undefined) return;
  agent.proc.child.kill("SIGTERM");
  const exited = await Promise.race([agent.proc.exited, sleep(10_000).then(() => undefined)]);
  if (exited === undefined) agent.proc.child.kill("SIGKILL");
  await agent.proc.exited;
}

/** Starts the lab broker once per lab. */
const brokers = new WeakSet<Lab>();
export async function ensureBroker(lab: Lab): Promise<void> {
  if (brokers.has(lab)) return;
  await startLabBroker(lab);
  brokers.add(lab);
}

/** The idle agent's VmRSS in KiB once it serves and its startup garbage is collected (settleMs later). */
export async function idleAgentKiB(
  lab: Lab,
  opts: { name: string; node: string; setup: NodeSetup; bundle?: string; mqtt: boolean; settleMs?: number },
): Promise<number> {
  if (opts.mqtt) await ensureBroker(lab);
  const agent = await startIdleAgent(lab, opts);
  try {
    await sleep(opts.settleMs ?? 5000);
    return rssKiB(agent.proc.pid);
  } finally {
    await stopIdleAgent(agent);
  }
}
