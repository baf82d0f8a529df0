// From the data-plane bench's measurements to what it shows: medians, ratios to the kernel path of the same
// round, the targets, a text table, an SVG bar chart and the Markdown page (docs/benchmarks.md). Pure.

/** The figures of one path in one round. Rates per second; MB = 10^6 bytes; latency of a lone new connection. */
export interface RoundFigures {
  newConnPerSec: number;
  keepAlivePerSec: number;
  bulkMBps: number;
  p50Ms: number;
  p99Ms: number;
  /** wrk's socket errors and non-2xx answers over the round's runs. */
  errors: number;
  /**
   * CPU time (user + system, every process in the gateway's namespace: the relay and the agent) per request of the
   * new-connection run, in microseconds. Other work on the machine slows a path without adding to it, so it compares
   * relays where the rates are noisy. 0 for the kernel path (no process); absent in runs stored before it existed.
   */
  gatewayCpuUsPerConn?: number;
}

export type Figure = Exclude<keyof RoundFigures, "errors" | "gatewayCpuUsPerConn">;
export const FIGURES: readonly Figure[] = ["newConnPerSec", "keepAlivePerSec", "bulkMBps", "p50Ms", "p99Ms"];
const FIGURE_LABEL: Readonly<Record<Figure, string>> = {
  newConnPerSec: "new conn/s",
  keepAlivePerSec: "keep-alive req/s",
  bulkMBps: "bulk MB/s",
  p50Ms: "p50 ms",
  p99Ms: "p99 ms",
};
/** The figures drawn in the chart: rates, where a higher ratio is better. */
const CHART_FIGURES: readonly Figure[] = ["newConnPerSec", "keepAlivePerSec", "bulkMBps"];

export interface PathRun {
  id: string;
  label: string;
  /** Why the path could not run here; absent when it ran. */
  unavailable?: string;
  /** One entry per round, in round order; undefined where the round failed (see failures). */
  rounds: (RoundFigures | undefined)[];
  failures: string[];
}

export interface PathSummary {
  id: string;
  label: string;
  unavailable?: string;
  /** Rounds that gave figures. */
  rounds: number;
  median?: RoundFigures;
  /** Median over rounds of (this path's figure / the kernel path's figure in the same round). */
  ratioToKernel: Partial<Record<Figure, number>>;
  failures: string[];
}

export interface TargetCheck {
  /** What the issue asks, in its words. */
  what: string;
  path: string;
  figure: Figure;
  baseline: string;
  atLeast: number;
  /** Median over rounds of path / baseline in the same round; undefined when either did not run. */
  reached?: number;
  met?: boolean;
}

/** The targets (issue 9, "Targets"). */
export const TARGETS: readonly Omit<TargetCheck, "reached" | "met">[] = [
  {
    what: "sixgate-haproxy new conn/s ≥ 0.6 × kernel",
    path: "sixgate-haproxy",
    figure: "newConnPerSec",
    baseline: "kernel",
    atLeast: 0.6,
  },
  {
    what: "sixgate-haproxy new conn/s ≥ 1.0 × HAProxy by hand",
    path: "sixgate-haproxy",
    figure: "newConnPerSec",
    baseline: "haproxy",
    atLeast: 1.0,
  },
  {
    what: "sixgate-haproxy keep-alive req/s ≥ 0.8 × kernel",
    path: "sixgate-haproxy",
    figure: "keepAlivePerSec",
    baseline: "kernel",
    atLeast: 0.8,
  },
  {
    what: "sixgate-socat new conn/s ≥ 0.95 × socat by hand",
    path: "sixgate-socat",
    figure: "newConnPerSec",
    baseline: "socat",
    atLeast: 0.95,
  },
];

/** Median of the finite values; NaN when there are none. */
export function median(values: readonly number[]): number {
  const s = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

/** Median over the rounds both paths completed of path/baseline, each round paired with the same round. */
export function pairedRatio(path: PathRun, baseline: PathRun, figure: Figure): number | undefined {
  const ratios: number[] = [];
  path.rounds.forEach((r, i) => {
    const b = baseline.rounds[i];
    if (r !== undefined && b !== undefined && b[figure] > 0) ratios.push(r[figure] / b[figure]);
  });
  const m = median(ratios);
  return Number.isFinite(m) ? m : undefined;
}

export function summarize(runs: readonly PathRun[]): { paths: PathSummary[]; targets: TargetCheck[] } {
  const byId = new Map(runs.map((r) => [r.id, r]));
  const kernel = byId.get("kernel");
  const paths = runs.map((run): PathSummary => {
    const done = run.rounds.filter((r): r is RoundFigures => r !== undefined);
    const ratioToKernel: Partial<Record<Figure, number>> = {};
    for (const f of FIGURES) {
      const ratio = kernel === undefined ? undefined : pairedRatio(run, kernel, f);
      if (ratio !== undefined) ratioToKernel[f] = ratio;
    }
    const summary: PathSummary = {
      id: run.id,
      label: run.label,
      rounds: done.length,
      ratioToKernel,
      failures: run.failures,
    };
    if (run.unavailable !== undefined) summary.unavailable = run.unavailable;
    if (done.length > 0) {
      const m = (f: keyof RoundFigures) => median(done.map((r) => r[f] ?? NaN));
      summary.median = {
        newConnPerSec: m("newConnPerSec"),
        keepAlivePerSec: m("keepAlivePerSec"),
        bulkMBps: m("bulkMBps"),
        p50Ms: m("p50Ms"),
        p99Ms: m("p99Ms"),
        errors: done.reduce((sum, r) => sum + r.errors, 0),
      };
      const cpu = m("gatewayCpuUsPerConn");
      if (Number.isFinite(cpu)) summary.median.gatewayCpuUsPerConn = cpu;
    }
    return summary;
  });
  const targets = TARGETS.map((t): TargetCheck => {
    const path = byId.get(t.path);
    const baseline = byId.get(t.baseline);
    const reached = path && baseline ? pairedRatio(path, baseline, t.figure) : undefined;
    return reached === undefined ? { ...t } : { ...t, reached, met: reached >= t.atLeast };
  });
  return { paths, targets };
}

const fixed = (x: number | undefined, digits: number) =>
  x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
const rate = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x) ? "–" : String(Math.round(x));

function figureCell(s: PathSummary, f: Figure): string {
  if (s.unavailable !== undefined) return "not available";
  if (s.median === undefined) return "failed";
  const value = f === "p50Ms" || f === "p99Ms" ? fixed(s.median[f], 2) : rate(s.median[f]);
  const ratio = s.ratioToKernel[f];
  return `${value} (${fixed(ratio, ratio !== undefined && ratio >= 10 ? 0 : 2)})`;
}

/**
 * Rows of cells: a header, then one row per path; each figure as "median (ratio to kernel)", then the gateway's CPU
 * per new connection (a column only when the run measured it).
 */
export function figureRows(paths: readonly PathSummary[]): string[][] {
  const cpu = paths.some((s) => s.median?.gatewayCpuUsPerConn !== undefined);
  const header = [
    "path",
    ...FIGURES.map((f) => FIGURE_LABEL[f]),
    ...(cpu ? ["gateway CPU µs/new conn"] : []),
    "errors",
  ];
  const rows = paths.map((s) => [
    s.label,
    ...FIGURES.map((f) => figureCell(s, f)),
    ...(cpu ? [fixed(s.median?.gatewayCpuUsPerConn, 1)] : []),
    s.median === undefined ? "–" : String(s.median.errors),
  ]);
  return [header, ...rows];
}

export function targetRows(targets: readonly TargetCheck[]): string[][] {
  const header = ["target", "reached", "met"];
  const verdict = (t: TargetCheck) => (t.met === undefined ? "not measured" : t.met ? "yes" : "no");
  return [header, ...targets.map((t) => [t.what, fixed(t.reached, 2), verdict(t)])];
}

/** A plain-text table with aligned columns, for the terminal. */
export function textTable(rows: readonly string[][]): string {
  const chars = (s: string) => Array.from(s).length; // "≥" and "–" are one column, two UTF-8 bytes
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => chars(r[i] ?? ""))));
  const line = (r: readonly string[]) =>
    r.map((cell, i) => cell + " ".repeat((widths[i] ?? 0) - chars(cell))).join("  ");
  return rows.map(line).join("\n");
}

export function markdownTable(rows: readonly string[][]): string {
  const [header, ...body] = rows;
  if (header === undefined) return "";
  const line = (r: readonly string[]) => `| ${r.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...body.map(line)].join("\n");
}

const escapeXml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const CHART_COLOR: Readonly<Record<string, string>> = {
  newConnPerSec: "#4c78a8",
  keepAlivePerSec: "#f58518",
  bulkMBps: "#54a24b",
};

/**
 * Horizontal bars, one group per path, one bar per rate figure, each the path's ratio to the kernel path (the
 * kernel's own bars are 1 by definition). Gridlines every 0.2; a path that did not run says so in place of bars.
 */
export function renderSvg(paths: readonly PathSummary[]): string {
  const labelWidth = 170;
  const plotWidth = 520;
  const bar = 12;
  const groupGap = 14;
  const top = 40;
  const groupHeight = CHART_FIGURES.length * bar + groupGap;
  const ratios = paths.flatMap((p) => CHART_FIGURES.map((f) => p.ratioToKernel[f] ?? 0));
  const scaleMax = Math.max(1, Math.ceil(Math.max(...ratios) * 5) / 5);
  const x = (ratio: number) => labelWidth + (Math.min(ratio, scaleMax) / scaleMax) * plotWidth;
  const height = top + paths.length * groupHeight + 30;
  const width = labelWidth + plotWidth + 70;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${labelWidth}" y="16" font-size="13" font-weight="bold">Ratio to the kernel-routed path (same run; higher is better)</text>`,
  ];
  CHART_FIGURES.forEach((f, i) => {
    const lx = labelWidth + i * 150;
    out.push(`<rect x="${lx}" y="24" width="10" height="10" fill="${CHART_COLOR[f] ?? "#888"}"/>`);
    out.push(`<text x="${lx + 14}" y="33">${escapeXml(FIGURE_LABEL[f])}</text>`);
  });
  const bottom = top + paths.length * groupHeight;
  for (let tick = 0; tick <= scaleMax + 1e-9; tick += 0.2) {
    const tx = x(tick).toFixed(1);
    const strong = Math.abs(tick - 1) < 1e-9;
    out.push(
      `<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${bottom}" stroke="${strong ? "#333" : "#ddd"}" stroke-width="${strong ? 1.5 : 1}"/>`,
      `<text x="${tx}" y="${bottom + 16}" text-anchor="middle" fill="#555">${tick.toFixed(1)}</text>`,
    );
  }
  paths.forEach((p, g) => {
    const gy = top + g * groupHeight;
    out.push(
      `<text x="${labelWidth - 8}" y="${gy + (CHART_FIGURES.length * bar) / 2 + 4}" text-anchor="end">${escapeXml(p.label)}</text>`,
    );
    if (p.unavailable !== undefined || p.median === undefined) {
      const why = p.unavailable !== undefined ? "not available" : "failed";
      out.push(`<text x="${labelWidth + 6}" y="${gy + bar * 2}" fill="#a00">${why}</text>`);
      return;
    }
    CHART_FIGURES.forEach((f, i) => {
      const ratio = p.ratioToKernel[f];
      if (ratio === undefined) return;
      const y = gy + i * bar;
      const w = (x(ratio) - labelWidth).toFixed(1);
      out.push(
        `<rect class="bar" x="${labelWidth}" y="${y}" width="${w}" height="${bar - 2}" fill="${CHART_COLOR[f] ?? "#888"}"/>`,
        `<text x="${(x(ratio) + 4).toFixed(1)}" y="${y + bar - 3}" font-size="10">${ratio.toFixed(2)}</text>`,
      );
    });
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

export interface RunInfo {
  date: string;
  runs: number;
  durationS: number;
  host: { kernel: string; cpus: number; node: string };
  versions: Record<string, string>;
  method: Record<string, string>;
}

/** The page's data-plane section (bench/page.ts puts the page together). */
export function renderDataplaneSection(
  info: RunInfo,
  summary: { paths: PathSummary[]; targets: TargetCheck[] },
  svgPath: string,
): string {
  const versions = Object.entries(info.versions)
    .map(([name, v]) => `${name} ${v}`)
    .join(", ");
  const method = Object.entries(info.method).map(([what, how]) => `- ${what}: ${how}`);
  const notRun = summary.paths.filter((p) => p.unavailable !== undefined);
  const failures = summary.paths.flatMap((p) => p.failures.map((f) => `- ${p.label}: ${f}`));
  return [
    "## Data plane",
    "",
    "From the lab's IPv6 client, with wrk, to nginx on the IPv4-only device, through each way of carrying the " +
      "traffic across the gateway. The baseline is the kernel routing IPv6 straight to the device (the lab gives " +
      "the device an IPv6 address for that path only). Every ratio is to the kernel path measured in the same " +
      "round, the median over the rounds.",
    "",
    `Run of ${info.date}: ${String(info.runs)} rounds, ${String(info.durationS)} s per wrk run, ` +
      `Linux ${info.host.kernel}, ${String(info.host.cpus)} CPUs shared by the client, the gateway and the device ` +
      `(and by other work on the machine), Node ${info.host.node}; ${versions}.`,
    "",
    `![Ratios to the kernel path](${svgPath})`,
    "",
    "Each cell: the median over the rounds, and in brackets the ratio to the kernel path (for latency, lower " +
      "is better).",
    "",
    markdownTable(figureRows(summary.paths)),
    "",
    "### Targets (issue 9)",
    "",
    markdownTable(targetRows(summary.targets)),
    "",
    ...(notRun.length === 0
      ? []
      : ["Not available in this run:", "", ...notRun.map((p) => `- ${p.label}: ${p.unavailable ?? ""}`), ""]),
    ...(failures.length === 0 ? [] : ["Rounds that failed:", "", ...failures, ""]),
    "### Method",
    "",
    ...method,
    "",
    "Repeat: `npm run bench -- dataplane` (root; `BENCH_RUNS`, `BENCH_DURATION_S` to change the rounds and the " +
      "length of each wrk run). It writes bench/results/dataplane.json, docs/benchmarks/dataplane.json and this page.",
    "",
  ].join("\n");
}
