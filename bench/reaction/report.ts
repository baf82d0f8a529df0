// The reaction bench's figures (bench/reaction.ts) as tables: printed as text and rendered into docs/benchmarks.md
// (bench/page.ts). Pure: the shapes of docs/benchmarks/reaction.json in, rows and Markdown out.
import { markdownTable, textTable } from "../dataplane/report.js";
import type { ReconcileFigures } from "../agent-figures.js";

/** One kind of change, measured TRIALS times: ms from the change to every port answering again. */
export interface Series {
  event: string;
  trials: number;
  /** Trials after which some port never answered (within the client's 30 s); not in the percentiles. */
  failed: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  samplesMs: number[];
}

/** CPU over a window (% of one CPU) and RSS sampled in its middle, of the agent and of its data plane. */
export interface WindowFigures {
  agentCpuPct: number;
  dataPlaneCpuPct: number;
  agentKiB: number;
  dataPlaneKiB: number;
  dataPlaneProcesses: number;
}

export interface Footprint {
  idleS: number;
  idle: WindowFigures;
  loadS: number;
  /** wrk's connections under load. */
  loadConnections: number;
  load: WindowFigures & { requestsPerS: number };
}

export interface ReactionRun {
  backend: string;
  ports: number;
  debounceMs: number;
  series: Series[];
  footprint: Footprint;
}

export interface ScaleRow extends ReconcileFigures {
  backend: string;
  ports: number;
  noopReload: { ms: number; commands: number; spawned: number; listenersKept: boolean };
}

export interface ReactionResults {
  date: string;
  trials: number;
  reaction: ReactionRun[];
  scale: ScaleRow[];
}

const TARGET_MS = 300;
const mib = (kib: number) => (kib / 1024).toFixed(1);

export function reactionRows(runs: readonly ReactionRun[]): string[][] {
  const rows = [["backend", "ports", "change", "debounceMs", "p50 ms", "p95 ms", "max ms", "failed"]];
  for (const r of runs)
    for (const s of r.series)
      rows.push([
        r.backend,
        String(r.ports),
        s.event,
        String(r.debounceMs),
        String(s.p50Ms),
        String(s.p95Ms),
        String(s.maxMs),
        `${String(s.failed)}/${String(s.trials)}`,
      ]);
  return rows;
}

/** The target: a renumbering with 64 ports, all served within 300 ms at p95. */
export function renumberTargetRows(runs: readonly ReactionRun[]): string[][] {
  const rows = [["backend", "64 ports renumbered: p95 ms", "target", "met"]];
  for (const r of runs.filter((x) => x.ports === 64)) {
    const s = r.series.find((x) => x.event === "WAN renumbered");
    if (s === undefined) continue;
    rows.push([
      r.backend,
      String(s.p95Ms),
      `≤ ${String(TARGET_MS)}`,
      s.p95Ms <= TARGET_MS && s.failed === 0 ? "yes" : "no",
    ]);
  }
  return rows;
}

export function footprintRows(runs: readonly ReactionRun[]): string[][] {
  const rows = [
    [
      "backend",
      "ports",
      "state",
      "agent CPU %",
      "agent RSS MiB",
      "data plane CPU %",
      "data plane RSS MiB",
      "processes",
      "req/s",
    ],
  ];
  for (const r of runs) {
    const { idle, load, idleS, loadS } = r.footprint;
    for (const [state, w, rate] of [
      [`idle ${String(idleS)} s`, idle, "-"],
      [`wrk ${String(loadS)} s`, load, String(Math.round(load.requestsPerS))],
    ] as const)
      rows.push([
        r.backend,
        String(r.ports),
        state,
        String(w.agentCpuPct),
        mib(w.agentKiB),
        String(w.dataPlaneCpuPct),
        mib(w.dataPlaneKiB),
        String(w.dataPlaneProcesses),
        rate,
      ]);
  }
  return rows;
}

export function scaleRows(rows: readonly ScaleRow[]): string[][] {
  const out = [
    [
      "backend",
      "ports",
      "reconciles",
      "first ms",
      "total ms",
      "steps",
      "processes",
      "by program",
      "no-op ms",
      "no-op processes",
    ],
  ];
  for (const r of rows)
    out.push([
      r.backend,
      String(r.ports),
      String(r.reconciles),
      String(r.firstReconcileMs),
      String(r.totalReconcileMs),
      String(r.steps),
      String(r.commands + r.spawned),
      Object.entries(r.byProgram)
        .map(([k, v]) => `${k} ${String(v)}`)
        .join(", "),
      String(r.noopReload.ms),
      `${String(r.noopReload.commands + r.noopReload.spawned)}${r.noopReload.listenersKept ? "" : " (listeners restarted)"}`,
    ]);
  return out;
}

/** The tables as printed by the bench. */
export function reactionTables(results: ReactionResults): { text: string } {
  return {
    text: [reactionRows, renumberTargetRows, footprintRows]
      .map((f) => textTable(f(results.reaction)))
      .concat(textTable(scaleRows(results.scale)))
      .join("\n\n"),
  };
}

/** The page's sections for the reaction bench. */
export function renderReactionSection(results: ReactionResults): string {
  return [
    "## Reaction",
    "",
    `From a change to the moment every port has answered a client again: ${String(results.trials)} trials per ` +
      "change, each after a quiet second with the agent serving. A renumbering adds the new WAN address and " +
      "deletes the old one; a lease change is timed from dnsmasq's write of the new lease (the DHCP exchange " +
      "before it is not the agent's); the link is pulled, the agent waits, the link is plugged and timed. " +
      `Run of ${results.date}; the agent from dist/ at its shipped debounceMs and log level, flap damping off.`,
    "",
    markdownTable(reactionRows(results.reaction)),
    "",
    "### Target (issue 9)",
    "",
    markdownTable(renumberTargetRows(results.reaction)),
    "",
    "## Footprint",
    "",
    "CPU (% of one CPU, over the window) and RSS (sampled in its middle) of the agent (with the commands it ran " +
      "and reaped: probes, nft, ip) and of its data plane: the " +
      "socat listeners with their connection children, or HAProxy's master and workers. Under load: wrk from the " +
      `client, ${String(results.reaction[0]?.footprint.loadConnections ?? "?")} connections, to the first port, answered by the lab device's busybox httpd.`,
    "",
    markdownTable(footprintRows(results.reaction)),
    "",
    "## Scale",
    "",
    "The reconciles from start to serving and the processes the runner started inside them (from the agent's " +
      "debug log), and a reload of the same file (SIGHUP): ms until it is reloaded, processes in the 2 s after.",
    "",
    markdownTable(scaleRows(results.scale)),
    "",
    "Repeat: `npm run bench -- reaction` (root; `BENCH_TRIALS`, `BENCH_IDLE_S`, `BENCH_LOAD_S`, " +
      "`BENCH_BACKENDS`). It writes bench/results/reaction.json, docs/benchmarks/reaction.json and this page.",
    "",
  ].join("\n");
}
