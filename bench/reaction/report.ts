// The reaction bench's figures (bench/reaction.ts) as tables: printed as text and rendered into docs/benchmarks.md
// (bench/page.ts). Pure: the shapes of docs/benchmarks/reaction.json in, rows and Markdown out.
import { markdownTable, textTable } from "../dataplane/report.js";
import type { ReconcileFigures } from "../agent-figures.js";

/** The client floor: the same sweep of every port with no change, just before a series. */
export interface Floor {
  trials: number;
  failed: number;
  /** Connections that hung in these sweeps (see Series.stalled). */
  stalled: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  samplesMs: number[];
}

/** One kind of change, measured TRIALS times: ms from the change to every port answering again. */
export interface Series {
  event: string;
  trials: number;
  /** Trials after which some port never answered (within the client's 30 s); not in the percentiles. */
  failed: number;
  /**
   * Connections that hung over the series: no answer within the client's hedge delay (100 ms), then none at all; the
   * client opened a fresh one beside each. Absent in runs stored before it was counted.
   */
  stalled?: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  samplesMs: number[];
  /**
   * The agent's own part of each served trial (same order as samplesMs): ms from the change to its "phase serving"
   * log record (null: none logged). Absent in runs stored before it was measured.
   */
  agent?: { p50Ms: number; p95Ms: number; samplesMs: (number | null)[] };
  /** Absent in runs stored before it was measured. */
  floor?: Floor;
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
  /** The machine's CPUs and 1-minute load average when the run started and ended (absent in older runs). */
  host?: { cpus: number; loadStart: number; loadEnd?: number };
  reaction: ReactionRun[];
  scale: ScaleRow[];
}

const TARGET_MS = 300;
const mib = (kib: number) => (kib / 1024).toFixed(1);
/** "p50 / p95", or "-" for a figure the stored run does not have, or without samples (NaN, stored as null). */
const pair = (x: { p50Ms: number; p95Ms: number } | undefined) =>
  x === undefined || !Number.isFinite(x.p50Ms) ? "-" : `${String(x.p50Ms)} / ${String(x.p95Ms)}`;

export function reactionRows(runs: readonly ReactionRun[]): string[][] {
  const rows = [
    [
      "backend",
      "ports",
      "change",
      "debounceMs",
      "p50 ms",
      "p95 ms",
      "max ms",
      "agent p50 / p95 ms",
      "client floor p50 / p95 ms",
      "hung conns (floor)",
      "failed",
    ],
  ];
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
        pair(s.agent),
        pair(s.floor),
        s.stalled === undefined ? "-" : `${String(s.stalled)} (${String(s.floor?.stalled ?? "-")})`,
        `${String(s.failed)}/${String(s.trials)}`,
      ]);
  return rows;
}

/** The target: a renumbering with 64 ports, all served within 300 ms at p95. */
export function renumberTargetRows(runs: readonly ReactionRun[]): string[][] {
  const rows = [
    ["backend", "64 ports renumbered: p95 ms", "agent p95 ms", "client floor p95 ms", "target", "met"],
  ];
  for (const r of runs.filter((x) => x.ports === 64)) {
    const s = r.series.find((x) => x.event === "WAN renumbered");
    if (s === undefined) continue;
    rows.push([
      r.backend,
      String(s.p95Ms),
      s.agent === undefined ? "-" : String(s.agent.p95Ms),
      s.floor === undefined ? "-" : String(s.floor.p95Ms),
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

/** Whether the stored run asked nginx on the device and measured the client floor (runs from 2026-12-01 on). */
function measuredAgainstNginx(results: ReactionResults): boolean {
  return results.reaction.some((r) => r.series.some((s) => s.floor !== undefined));
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
    measuredAgainstNginx(results)
      ? "The client, in the client namespace for a whole series, asks every port 16 at a time until each has " +
        "given the device's own answer (`sixgate-lab-device port=8080`). The device's server is nginx: the lab's " +
        "busybox httpd listens with a backlog of 9 and forks per connection, so 16 parallel connections " +
        "overflowed its queue and each dropped SYN added a 1 s retransmission to the figure, even with nothing " +
        "changed. **agent** is the agent's own part of each trial: from the change to the agent's `phase " +
        "serving` log record (its `reconciled` record when the change never took it out of serving). **client " +
        "floor** is the same sweep with no change, a few times just before each series: what the measurement " +
        "itself takes. A request with no answer after 100 ms gets a fresh connection beside it (the figure is " +
        "about new connections); **hung conns** counts, over the series (and over its floor sweeps), the " +
        "connections that then never answered: those a client that connected at that moment would have waited " +
        "on until its timeout. The agent logs `phase serving` when its whole reconcile has ended, so its part " +
        "can exceed the figure when the client was served by the last listener before that."
      : "This run predates the client floor and asked the lab's busybox httpd as the device, which drops SYNs " +
        "under the client's 16 parallel connections (listen backlog 9): its figures hold up to a second of SYN " +
        "retransmission per sweep even with nothing changed.",
    "",
    ...(results.host === undefined
      ? []
      : [
          `Machine: ${String(results.host.cpus)} CPUs, shared with other work; 1-minute load average ` +
            `${results.host.loadStart.toFixed(1)} at the start` +
            (results.host.loadEnd === undefined
              ? "."
              : ` and ${results.host.loadEnd.toFixed(1)} at the end.`),
          "",
        ]),
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
      `client, ${String(results.reaction[0]?.footprint.loadConnections ?? "?")} connections, to the first port, answered by ${measuredAgainstNginx(results) ? "nginx on the device" : "the lab device's busybox httpd"}.`,
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
