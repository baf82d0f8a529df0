// The data-plane bench (`npm run bench -- dataplane`): from the lab's IPv6 client, wrk against nginx on the IPv4
// device, through the kernel (IPv6 routed to the device: the baseline), socat and 6tunnel and HAProxy run by hand,
// and the agent (dist/) with its socat and, where it supports it, its HAProxy backend. Rounds run every path in
// turn, so each ratio compares paths measured within the same few minutes on this shared, noisy machine. Prints a
// table, writes bench/results/dataplane.json, docs/benchmarks.md and its chart docs/benchmarks/dataplane.{svg,json}.
// `node --import tsx bench/dataplane.ts --render bench/results/dataplane.json` writes the page again from that run.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release } from "node:os";
import { createLab, nsPids, sleep, waitFor, type Lab } from "../test/lab/lab.js";
import { benchPaths, type BenchPath, type PathContext } from "./dataplane/paths.js";
import {
  figureRows,
  renderSvg,
  summarize,
  targetRows,
  textTable,
  type PathRun,
  type RoundFigures,
  type RunInfo,
} from "./dataplane/report.js";
import { intEnv } from "./env.js";
import { BULK_BYTES, SMALL_BODY, startNginx } from "./nginx.js";
import { parseWrk, type WrkResult } from "./dataplane/wrk.js";
import { formatJson, writeBenchmarksPage } from "./page.js";

const RUNS = intEnv("BENCH_RUNS", 3, 1, 10);
const DURATION_S = intEnv("BENCH_DURATION_S", 5, 1, 60);
/** Connections wrk keeps open: below the agent's default max-children (64) and 6tunnel's default limit. */
const LOAD_CONNECTIONS = 16;
const BULK_CONNECTIONS = 4;
const MB = 1e6;

const DOCS = new URL("../docs/", import.meta.url);
const RESULTS = new URL("./results/", import.meta.url);

const log = (line: string) => process.stderr.write(`dataplane: ${line}\n`);

async function wrk(lab: Lab, url: string, connections: number, close: boolean): Promise<WrkResult> {
  const argv = ["wrk", "-t1", `-c${String(connections)}`, `-d${String(DURATION_S)}s`, "--latency"];
  argv.push("--timeout", "10s", ...(close ? ["-H", "Connection: close"] : []), url);
  const r = await lab.execOk("cli", argv, { timeoutMs: (DURATION_S + 30) * 1000 });
  await sleep(500); // the closed connections' last packets, before the next run
  return parseWrk(r.stdout);
}

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

/**
 * CPU time in clock ticks of every process in the gateway's namespace, by pid: utime + stime, plus cutime + cstime
 * (children it reaped, as socat's forks for each connection).
 */
async function gatewayTicks(lab: Lab): Promise<Map<number, number>> {
  const ticks = new Map<number, number>();
  for (const pid of await nsPids(lab.ns.gw)) {
    try {
      const stat = readFileSync(`/proc/${String(pid)}/stat`, "utf8");
      // Fields after the parenthesised comm: state is [0], utime [11], stime [12], cutime [13], cstime [14].
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks.set(
        pid,
        [11, 12, 13, 14].reduce((sum, i) => sum + Number(f[i] ?? 0), 0),
      );
    } catch {
      // gone between the listing and the read: its time is lost either way
    }
  }
  return ticks;
}

/** The four wrk runs of one path in one round. */
async function measure(lab: Lab, path: BenchPath): Promise<RoundFigures> {
  const base = `http://[${path.address}]:${String(path.port)}`;
  const before = await gatewayTicks(lab);
  const newConn = await wrk(lab, `${base}/small.html`, LOAD_CONNECTIONS, true);
  const after = await gatewayTicks(lab);
  // A process that started during the run counts from 0; one that ended is lost (its parent may count it).
  const ticks = [...after].reduce((sum, [pid, t]) => sum + Math.max(0, t - (before.get(pid) ?? 0)), 0);
  const keepAlive = await wrk(lab, `${base}/small.html`, LOAD_CONNECTIONS, false);
  const bulk = await wrk(lab, `${base}/big.bin`, BULK_CONNECTIONS, false);
  // Latency of one new connection at a time: what a lone client waits, without queueing behind others.
  const lone = await wrk(lab, `${base}/small.html`, 1, true);
  return {
    newConnPerSec: newConn.requestsPerSec,
    keepAlivePerSec: keepAlive.requestsPerSec,
    bulkMBps: bulk.bytesPerSec / MB,
    p50Ms: lone.p50Ms,
    p99Ms: lone.p99Ms,
    errors: newConn.errors + keepAlive.errors + bulk.errors + lone.errors,
    gatewayCpuUsPerConn: newConn.requests > 0 ? (ticks / USER_HZ / newConn.requests) * 1e6 : NaN,
  };
}

async function serves(lab: Lab, path: BenchPath): Promise<void> {
  let last = "";
  await waitFor(
    async () => {
      const r = await lab.curl6(path.port, path.address, { path: "/small.html", maxTimeS: 2 });
      last = `${r.stderr.trim()} ${r.body.trim()}`;
      return r.body.trim() === SMALL_BODY.trim();
    },
    { timeoutMs: 15_000, intervalMs: 100, message: () => `${path.label} does not serve: ${last}` },
  );
}

function packageVersion(pkg: string): string {
  const r = spawnSync("dpkg-query", ["-W", "-f", "${Version}", pkg], { encoding: "utf8", timeout: 5_000 });
  return r.status === 0 ? r.stdout.trim() : "?";
}

async function writeOutputs(info: RunInfo, runs: PathRun[]): Promise<string> {
  const summary = summarize(runs);
  const result: StoredRun & ReturnType<typeof summarize> = { ...info, ...summary, rawRounds: runs };
  const json = JSON.stringify(result, null, 2);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(new URL("dataplane.json", RESULTS), `${json}\n`);
  const chartDir = new URL("benchmarks/", DOCS);
  mkdirSync(chartDir, { recursive: true });
  writeFileSync(new URL("dataplane.svg", chartDir), renderSvg(summary.paths));
  writeFileSync(new URL("dataplane.json", chartDir), await formatJson(json));
  await writeBenchmarksPage();
  return `${textTable(figureRows(summary.paths))}\n\n${textTable(targetRows(summary.targets))}\n`;
}

/** What the JSON holds besides the summary: enough to render the page again (`--render FILE`). */
interface StoredRun extends RunInfo {
  rawRounds: PathRun[];
}

async function measureAll(): Promise<void> {
  const info: RunInfo = {
    date: new Date().toISOString(),
    runs: RUNS,
    durationS: DURATION_S,
    host: { kernel: release(), cpus: cpus().length, node: process.versions.node },
    versions: Object.fromEntries(
      ["wrk", "nginx-light", "socat", "6tunnel", "haproxy"].map((p) => [p, packageVersion(p)]),
    ),
    method: {
      "new conn/s": `wrk -t1 -c${String(LOAD_CONNECTIONS)} -H 'Connection: close', a ${String(SMALL_BODY.length)}-byte file: one request per connection`,
      "keep-alive req/s": `wrk -t1 -c${String(LOAD_CONNECTIONS)}, the same file over kept-alive connections`,
      "bulk MB/s": `wrk -t1 -c${String(BULK_CONNECTIONS)}, an ${String(BULK_BYTES / 1024 / 1024)} MiB file (MB = 10^6 bytes)`,
      "p50/p99 ms": "wrk -t1 -c1 -H 'Connection: close': the latency of a lone request on a new connection",
      "gateway CPU µs/new conn":
        "user and system CPU time of every process in the gateway's namespace (the relay, and the agent for sixgate-*) over the new-connection run, per request (/proc/<pid>/stat); 0 for the kernel path, whose forwarding has no process. Unlike the rates, other work on the machine does not change it much",
      "sixgate-*":
        "the agent from dist/ with its defaults (logLevel info, keepaliveSec 120, firewall nft), one port, started and stopped each round. Its SNAT table (a nat hook) turns on connection tracking in the gateway's namespace, which the paths run by hand do without",
      "by hand":
        "socat and 6tunnel with the plain options a user types; HAProxy in TCP mode with its defaults",
    },
  };
  const lab = await createLab();
  const runs: PathRun[] = [];
  try {
    const device = await lab.deviceAddress();
    if (device === undefined) throw new Error("the device has no lease");
    const ctx: PathContext = { lab, device };
    // Lab namespaces only: tens of thousands of short connections per run must not run out of ports.
    for (const role of ["cli", "gw"] as const)
      await lab.sysctl(role, { "net.ipv4.ip_local_port_range": "1024 65000", "net.ipv4.tcp_tw_reuse": 1 });
    await startNginx(lab);
    const paths = benchPaths(lab);
    for (const path of paths) {
      const run: PathRun = { id: path.id, label: path.label, rounds: [], failures: [] };
      const why = await path.unavailable(ctx);
      if (why !== undefined) {
        run.unavailable = why;
        log(`${path.label}: not available: ${why}`);
      }
      runs.push(run);
    }
    for (let round = 0; round < RUNS; round++) {
      for (const [i, path] of paths.entries()) {
        const run = runs[i];
        if (run === undefined || run.unavailable !== undefined) continue;
        log(`round ${String(round + 1)}/${String(RUNS)}: ${path.label}`);
        let figures: RoundFigures | undefined;
        try {
          await path.start(ctx);
          await serves(lab, path);
          figures = await measure(lab, path);
        } catch (err) {
          run.failures.push(
            `round ${String(round + 1)}: ${err instanceof Error ? err.message : String(err)}`,
          );
          log(`${path.label} failed: ${run.failures.at(-1) ?? ""}`);
        } finally {
          await path.stop(ctx);
        }
        run.rounds.push(figures);
      }
    }
  } finally {
    await lab.destroy();
  }
  process.stdout.write(await writeOutputs(info, runs));
  process.stdout.write("written to bench/results/dataplane.json and docs/benchmarks.md\n");
}

// `--render FILE`: the page again from a stored run (after a change to the page's form), without measuring.
if (process.argv[2] === "--render" && process.argv[3] !== undefined) {
  const stored = JSON.parse(readFileSync(process.argv[3], "utf8")) as StoredRun;
  const { rawRounds, date, runs, durationS, host, versions, method } = stored;
  // JSON wrote a failed round (undefined) as null.
  const paths = rawRounds.map((r) => ({ ...r, rounds: r.rounds.map((x) => x ?? undefined) }));
  process.stdout.write(await writeOutputs({ date, runs, durationS, host, versions, method }, paths));
} else {
  await measureAll();
}
