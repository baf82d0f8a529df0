// Reaction, footprint and scale (issue 9), for each listener backend side by side in one lab run:
// - reaction: from a WAN renumbering, a device lease change and a WAN link down/up to the moment every port has
//   answered a client again, with 2 and with 64 ports, TRIALS trials each, p50/p95 next to debounceMs; for each
//   trial also the agent's own part (from the change to its "phase serving" log record), and for each series the
//   client floor (FLOOR_TRIALS sweeps with no change just before it: what the measurement itself takes);
// - footprint: RSS and CPU of the agent and of its data plane (socat listeners and their connection children, or
//   HAProxy's master and workers) idle for IDLE_S seconds and under wrk load for LOAD_S seconds;
// - scale: the reconciles until serving and the processes they started for 1, 16 and 64 ports, and a no-op reload.
// Prints tables, writes bench/results/reaction.json and docs/benchmarks/reaction.json, then docs/benchmarks.md.
//
//   npm run bench -- reaction        (root; about 25 minutes with the defaults)
//   BENCH_TRIALS=20                  trials per event (default 20)
//   BENCH_FLOOR_TRIALS=5             sweeps with no change before each series (default 5)
//   BENCH_IDLE_S=60 BENCH_LOAD_S=10  the footprint's windows
//   BENCH_BACKENDS="socat haproxy"   the backends (default both)
//   node --import tsx bench/reaction.ts --render   the page again from docs/benchmarks/reaction.json
//
// The agent runs from dist/ with the shipped debounceMs (300) and log level (info) for reaction and footprint, at
// debug for scale (the processes are counted from the runner's debug records). Flap damping is off: twenty link
// bounces in a row are what it exists to hold down. The client (all-served-client.ts) runs in the client namespace
// for a whole series and is triggered through a file, so no figure holds a process start-up. The device's server
// is nginx (bench/nginx.ts), not the lab's busybox httpd: that one forks per connection and listens with a backlog
// of 9, so the client's 16 parallel connections overflowed its queue and every dropped SYN added the gateway's 1 s
// retransmission timeout to the figure (2 to 5 of 8 sweeps with no change at all took 1 s).
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLab, sleep, waitFor, type AgentProcess, type Lab } from "../test/lab/lab.js";
import { noopReload, reconcileFigures, stopAgent, type ReconcileFigures } from "./agent-figures.js";
import { rssKiB } from "./memory-lab.js";
import { formatJson, writeBenchmarksPage } from "./page.js";
import { intEnv } from "./env.js";
import { parseWrk } from "./dataplane/wrk.js";
import { NGINX_PORT } from "./dataplane/paths.js";
import { startNginx } from "./nginx.js";
import {
  reactionTables,
  type Floor,
  type Footprint,
  type ReactionResults,
  type ReactionRun,
  type ScaleRow,
  type Series,
  type WindowFigures,
} from "./reaction/report.js";

const TRIALS = intEnv("BENCH_TRIALS", 20, 1, 200);
const FLOOR_TRIALS = intEnv("BENCH_FLOOR_TRIALS", 5, 1, 50);
const IDLE_S = intEnv("BENCH_IDLE_S", 60, 1, 3600);
const LOAD_S = intEnv("BENCH_LOAD_S", 10, 1, 600);
const BACKENDS = (process.env.BENCH_BACKENDS ?? "socat haproxy").split(/\s+/).filter(Boolean);
for (const b of BACKENDS)
  if (b !== "socat" && b !== "haproxy") throw new Error(`BENCH_BACKENDS: unknown ${b}`);
const DEBOUNCE_MS = 300;
const PORT_COUNTS = [2, 64];
const SCALE_COUNTS = [1, 16, 64];
/** USER_HZ: the unit of /proc/PID/stat's times. */
const CLOCK_TICKS = 100;
const LOAD_CONNECTIONS = 16;
const ALL_SERVED_CLIENT = fileURLToPath(new URL("./all-served-client.ts", import.meta.url));
const HOURLY = { schedule: "0 0 * * * *" };

const log = (line: string) =>
  process.stderr.write(
    `reaction: ${new Date().toISOString().slice(11, 19)} (load ${loadavg()[0]?.toFixed(1) ?? "?"}) ${line}\n`,
  );
const ports = (n: number) => Array.from({ length: n }, (_, i) => ({ listen: 8000 + i, target: NGINX_PORT }));

/** The agent's config: shipped log level, or (scale) debug with the health tick hourly so nothing else runs. */
function writeAgentConfig(
  lab: Lab,
  backend: string,
  n: number,
  purpose: "reaction" | "scale",
): Promise<string> {
  return lab.writeConfig(
    {
      ports: ports(n),
      debounceMs: DEBOUNCE_MS,
      listener: { backend },
      flapDamping: { flaps: 0 },
      ...(purpose === "scale" ? { logLevel: "debug", health: HOURLY } : { logLevel: "info" }),
    },
    `${purpose}-${backend}-${String(n)}.yaml`,
  );
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
}

function percentiles(samples: readonly number[]): { p50Ms: number; p95Ms: number; maxMs: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50Ms: percentile(s, 0.5), p95Ms: percentile(s, 0.95), maxMs: s.at(-1) ?? NaN };
}

function floor(samples: number[], failed: number): Omit<Floor, "stalled"> {
  return { trials: samples.length + failed, failed, ...percentiles(samples), samplesMs: samples };
}

function series(
  event: string,
  samples: number[],
  agentSamples: (number | null)[],
  failed: number,
  stalled: number,
  clientFloor: Floor,
): Series {
  const { p50Ms, p95Ms } = percentiles(agentSamples.filter((x): x is number => x !== null));
  return {
    event,
    trials: samples.length + failed,
    failed,
    stalled,
    ...percentiles(samples),
    samplesMs: samples,
    agent: { p50Ms, p95Ms, samplesMs: agentSamples },
    floor: clientFloor,
  };
}

/** What starts one trial: when its change began (ms since the epoch) and the address the client must ask. */
type Change = (i: number) => Promise<{ startedAt: number; address: string }>;

function changes(lab: Lab, agent: AgentProcess, base: number): Record<string, Change> {
  return {
    "WAN renumbered": async (i) => {
      const next = `2001:db8:1::${(base + i).toString(16)}`;
      const startedAt = Date.now();
      await lab.renumberWan(next);
      return { startedAt, address: next };
    },
    // From the moment dnsmasq wrote the new lease (the file's mtime): DHCP itself is not the agent's reaction.
    // The other of two addresses than the device has now: a series may start where the last one ended.
    "device lease changed": async () => {
      const next = (await lab.deviceAddress()) === "192.168.1.120" ? "192.168.1.121" : "192.168.1.120";
      await lab.newDeviceLease(next);
      return { startedAt: statSync(lab.leaseFile).mtimeMs, address: lab.wanAddress };
    },
    "WAN link down/up": async () => {
      await lab.setWanCable(false);
      await agent.waitPhase("waiting", 15_000);
      const startedAt = Date.now();
      await lab.setWanCable(true);
      return { startedAt, address: lab.wanAddress };
    },
  };
}

/** What the client printed for one sweep: when the last port answered, and the ports that never did. */
interface SweepLine {
  seq: string;
  doneAt: number;
  pending: number[];
  /** Connections that hung (no answer within the client's hedge delay, then none at all). */
  stalled: number;
}

/** Triggers one sweep of every port at `address` and waits for its line; undefined when none came in time. */
async function sweep(lab: Lab, client: Client, address: string): Promise<SweepLine | undefined> {
  const id = String(++client.seq);
  writeFileSync(client.trigger, `${id} ${address}\n`);
  let line: SweepLine | undefined;
  // A client that has not answered in time counts as a failed trial: one bad trial must not lose a long run.
  await waitFor(
    () => {
      const mine = lab
        .readLog(client.name)
        .split("\n")
        .find((l) => l.startsWith(`{"seq":"${id}"`));
      line = mine === undefined ? undefined : (JSON.parse(mine) as SweepLine);
      return line !== undefined;
    },
    { timeoutMs: 45_000, intervalMs: 10 },
  ).catch(() => undefined);
  return line;
}

/**
 * When the agent, by its own log, was serving again after a change at `startedAt`: its first "phase serving" record
 * from then on, else (a change that never took it out of serving) its first "reconciled" record. Undefined when it
 * logged neither within `withinMs`.
 */
async function agentServedAt(
  agent: AgentProcess,
  startedAt: number,
  withinMs = 5_000,
): Promise<number | undefined> {
  const first = (msg: string) =>
    agent
      .logs()
      .filter((l) => l.msg === msg && typeof l.time === "number" && l.time >= startedAt)
      .map((l) => Number(l.time))
      .sort((a, b) => a - b)[0];
  return waitFor(() => first("phase serving") ?? first("reconciled"), {
    timeoutMs: withinMs,
    intervalMs: 20,
  }).catch(() => undefined);
}

/** The client floor: the same sweep with no change, so a reader sees what part of a figure is the measurement. */
async function floorTrials(lab: Lab, agent: AgentProcess, client: Client): Promise<Floor> {
  const samples: number[] = [];
  let stalled = 0;
  for (let i = 0; i < FLOOR_TRIALS; i++) {
    await agent.waitPhase("serving", 60_000);
    await sleep(1000);
    const startedAt = Date.now();
    const line = await sweep(lab, client, lab.wanAddress);
    stalled += line?.stalled ?? 0;
    if (line !== undefined && line.pending.length === 0) samples.push(Math.round(line.doneAt - startedAt));
    else log(`floor trial ${String(i)}: never served: ${line?.pending.join(" ") ?? "?"}`);
  }
  return { ...floor(samples, FLOOR_TRIALS - samples.length), stalled };
}

/**
 * One series of trials of `change`: each after a quiet second and with the agent serving, until all ports answer;
 * and for each, when the agent logged that it was serving again.
 */
async function trials(lab: Lab, agent: AgentProcess, client: Client, change: Change) {
  const samples: number[] = [];
  const agentSamples: (number | null)[] = [];
  let failed = 0;
  let stalled = 0;
  for (let i = 0; i < TRIALS; i++) {
    await agent.waitPhase("serving", 60_000);
    await sleep(1000);
    const { startedAt, address } = await change(i);
    const line = await sweep(lab, client, address);
    stalled += line?.stalled ?? 0;
    if (line === undefined || line.pending.length > 0) {
      failed++;
      log(`trial ${String(i)}: never served: ${line?.pending.join(" ") ?? "?"}`);
      continue;
    }
    samples.push(Math.round(line.doneAt - startedAt));
    const served = await agentServedAt(agent, startedAt);
    if (served === undefined)
      log(`trial ${String(i)}: the agent logged neither "phase serving" nor "reconciled"`);
    agentSamples.push(served === undefined ? null : Math.round(served - startedAt));
  }
  return { samples, agentSamples, failed, stalled };
}

/** utime + stime, and the same for reaped children, in ms; 0 for a process gone. */
function cpuMs(pid: number): { self: number; children: number } {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, "utf8");
    const f = stat
      .slice(stat.lastIndexOf(")") + 2)
      .split(" ")
      .map(Number);
    // Fields 14-17 of proc(5), counted from 1 with pid and comm: here from 3 (state) on.
    const at = (field: number) => f[field - 3] ?? 0;
    return {
      self: ((at(14) + at(15)) * 1000) / CLOCK_TICKS,
      children: ((at(16) + at(17)) * 1000) / CLOCK_TICKS,
    };
  } catch {
    return { self: 0, children: 0 };
  }
}

/** The data plane's processes: socat listeners (their connections' children are reaped into them) or HAProxy's. */
async function dataPlanePids(lab: Lab, backend: string): Promise<number[]> {
  if (backend === "socat") return (await lab.socatListeners()).map((s) => s.pid);
  return (await lab.processesIn("gw")).filter((p) => p.comm === "haproxy").map((p) => p.pid);
}

/** CPU % and RSS of the agent and its data plane over a window in which `during` runs. */
/** `pids` and their live children not among them (socat's connection processes). */
async function withChildren(lab: Lab, pids: readonly number[]): Promise<number[]> {
  const own = new Set(pids);
  const children = (await lab.processesIn("gw")).filter((p) => own.has(p.ppid) && !own.has(p.pid));
  return [...pids, ...children.map((p) => p.pid)];
}

async function window<T>(
  lab: Lab,
  agent: AgentProcess,
  backend: string,
  seconds: number,
  during: () => Promise<T>,
): Promise<{ result: T; figures: WindowFigures }> {
  const plane = await dataPlanePids(lab, backend);
  // A connection's socat child is counted in its listener's when reaped: the window's CPU is read once they are.
  const planeCpu = () => plane.reduce((s, p) => s + cpuMs(p).self + cpuMs(p).children, 0);
  // The agent's own and that of the commands it ran and reaped (probes, nft, ip) in the window.
  const agentCpu = () => cpuMs(agent.pid).self + cpuMs(agent.pid).children;
  const agentBefore = agentCpu();
  const planeBefore = planeCpu();
  const started = performance.now();
  let rss = { agentKiB: 0, dataPlaneKiB: 0 };
  const sample = sleep((seconds * 1000) / 2).then(async () => {
    const now = await withChildren(lab, await dataPlanePids(lab, backend));
    rss = { agentKiB: rssKiB(agent.pid), dataPlaneKiB: now.reduce((s, p) => s + (rssKiB(p) || 0), 0) };
  });
  const result = await during();
  await sample;
  const wallMs = performance.now() - started;
  await waitFor(async () => (await withChildren(lab, plane)).length === plane.length, {
    timeoutMs: 5_000,
    intervalMs: 20,
  }).catch(() => log("connection processes still running after the window: their CPU is not counted"));
  const pct = (ms: number) => Math.round((ms / wallMs) * 1000) / 10;
  const figures = {
    agentCpuPct: pct(agentCpu() - agentBefore),
    dataPlaneCpuPct: pct(planeCpu() - planeBefore),
    ...rss,
    dataPlaneProcesses: plane.length,
  };
  return { result, figures };
}

async function footprint(lab: Lab, agent: AgentProcess, backend: string): Promise<Footprint> {
  const idle = await window(lab, agent, backend, IDLE_S, () => sleep(IDLE_S * 1000));
  const url = `http://[${lab.wanAddress}]:8000/`;
  const load = await window(lab, agent, backend, LOAD_S, () =>
    lab.execOk("cli", ["wrk", "-t1", `-c${String(LOAD_CONNECTIONS)}`, `-d${String(LOAD_S)}s`, url], {
      timeoutMs: (LOAD_S + 30) * 1000,
    }),
  );
  const { requestsPerSec } = parseWrk(load.result.stdout);
  return {
    idleS: IDLE_S,
    idle: idle.figures,
    loadS: LOAD_S,
    loadConnections: LOAD_CONNECTIONS,
    load: { ...load.figures, requestsPerS: requestsPerSec },
  };
}

/** The all-served client of one series of runs, running in the client namespace, and its trigger file. */
interface Client {
  name: string;
  trigger: string;
  seq: number;
}

async function reactionRun(lab: Lab, backend: string, n: number, base: number): Promise<ReactionRun> {
  const agent = lab.startAgent(await writeAgentConfig(lab, backend, n, "reaction"));
  const client: Client = {
    name: `served-${backend}-${String(n)}`,
    trigger: join(lab.dir, `served-${backend}-${String(n)}.trigger`),
    seq: 0,
  };
  const proc = lab.spawn(
    "cli",
    [
      process.execPath,
      "--import",
      import.meta.resolve("tsx"),
      ALL_SERVED_CLIENT,
      client.trigger,
      ports(n)
        .map((p) => p.listen)
        .join(","),
      String(NGINX_PORT),
    ],
    client.name,
  );
  try {
    await agent.waitPhase("serving", 120_000);
    const out: Series[] = [];
    for (const [event, change] of Object.entries(changes(lab, agent, base))) {
      log(`${backend}, ${String(n)} ports: ${event}`);
      const clientFloor = await floorTrials(lab, agent, client);
      const { samples, agentSamples, failed, stalled } = await trials(lab, agent, client, change);
      out.push(series(event, samples, agentSamples, failed, stalled, clientFloor));
    }
    await agent.waitPhase("serving", 60_000);
    log(`${backend}, ${String(n)} ports: footprint`);
    return {
      backend,
      ports: n,
      debounceMs: DEBOUNCE_MS,
      series: out,
      footprint: await footprint(lab, agent, backend),
    };
  } finally {
    proc.child.kill("SIGTERM");
    await stopAgent(agent);
  }
}

async function scaleRow(lab: Lab, backend: string, n: number): Promise<ScaleRow> {
  const agent = lab.startAgent(await writeAgentConfig(lab, backend, n, "scale"));
  try {
    await agent.waitPhase("serving", 120_000);
    const figures: ReconcileFigures = reconcileFigures(agent);
    const pids = async () => JSON.stringify((await agent.status()).listeners.map((l) => l.pid));
    const before = await pids();
    const noop = await noopReload(agent);
    return {
      backend,
      ports: n,
      ...figures,
      noopReload: { ...noop, listenersKept: before === (await pids()) },
    };
  } finally {
    await stopAgent(agent);
  }
}

async function main(): Promise<void> {
  const run: ReactionResults & { host: NonNullable<ReactionResults["host"]> } = {
    date: new Date().toISOString(),
    trials: TRIALS,
    host: { cpus: cpus().length, loadStart: loadavg()[0] ?? NaN },
    reaction: [],
    scale: [],
  };
  /** Saved after each part, so a run cut short still leaves what it measured. */
  const save = async () => {
    const json = JSON.stringify(run, null, 2);
    mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
    writeFileSync(new URL("./results/reaction.json", import.meta.url), `${json}\n`);
    mkdirSync(new URL("../docs/benchmarks/", import.meta.url), { recursive: true });
    writeFileSync(new URL("../docs/benchmarks/reaction.json", import.meta.url), await formatJson(json));
    await writeBenchmarksPage();
  };
  const lab = await createLab();
  try {
    await startNginx(lab);
    // Scale first, while the device still has its first lease: a start that finds a lease and neighbour entries of
    // other addresses may reconcile twice, and that is not what the figure is about.
    for (const n of SCALE_COUNTS)
      for (const backend of BACKENDS) run.scale.push(await scaleRow(lab, backend, n));
    await save();
    let base = 0x1000;
    for (const n of PORT_COUNTS)
      for (const backend of BACKENDS) {
        run.reaction.push(await reactionRun(lab, backend, n, base));
        base += TRIALS;
        await save();
      }
  } finally {
    await lab.destroy();
  }
  run.host.loadEnd = loadavg()[0] ?? NaN;
  await save();
  process.stdout.write(
    `${reactionTables(run).text}\nwritten to bench/results/reaction.json and docs/benchmarks.md\n`,
  );
}

// `--render`: docs/benchmarks.md again from the stored run (docs/benchmarks/reaction.json), without measuring.
if (process.argv[2] === "--render") await writeBenchmarksPage();
else await main();
