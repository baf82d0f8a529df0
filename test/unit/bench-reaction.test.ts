// The reaction bench's tables (bench/reaction/report.ts): the agent's part and the client floor beside each series,
// and runs stored before they were measured still rendered, with "-" and a note instead of made-up figures.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  reactionRows,
  renderReactionSection,
  renumberTargetRows,
  type ReactionResults,
  type ReactionRun,
  type Series,
} from "../../bench/reaction/report.js";

const footprint: ReactionRun["footprint"] = {
  idleS: 60,
  idle: {
    agentCpuPct: 0.1,
    dataPlaneCpuPct: 0,
    agentKiB: 60_000,
    dataPlaneKiB: 20_000,
    dataPlaneProcesses: 2,
  },
  loadS: 10,
  loadConnections: 16,
  load: {
    agentCpuPct: 0,
    dataPlaneCpuPct: 40,
    agentKiB: 60_000,
    dataPlaneKiB: 20_000,
    dataPlaneProcesses: 2,
    requestsPerS: 30_000,
  },
};

const oldSeries: Series = {
  event: "WAN renumbered",
  trials: 5,
  failed: 0,
  p50Ms: 4538,
  p95Ms: 4750,
  maxMs: 4750,
  samplesMs: [4538, 4750],
};

const newSeries: Series = {
  event: "WAN renumbered",
  trials: 3,
  failed: 0,
  stalled: 4,
  p50Ms: 180,
  p95Ms: 260,
  maxMs: 260,
  samplesMs: [150, 180, 260],
  agent: { p50Ms: 130, p95Ms: 140, samplesMs: [120, 130, 140] },
  floor: { trials: 5, failed: 0, stalled: 1, p50Ms: 40, p95Ms: 90, maxMs: 90, samplesMs: [40, 90] },
};

/** The cell of the first data row under column `name`. */
function cell(rows: string[][], name: string): string | undefined {
  const i = rows[0]?.indexOf(name) ?? -1;
  return i < 0 ? undefined : rows[1]?.[i];
}

const run = (series: Series): ReactionRun => ({
  backend: "haproxy",
  ports: 64,
  debounceMs: 300,
  series: [series],
  footprint,
});

test("a series shows the agent's part, the client floor and the hung connections beside its figures", () => {
  const rows = reactionRows([run(newSeries)]);
  assert.equal(cell(rows, "p95 ms"), "260");
  assert.equal(cell(rows, "agent p50 / p95 ms"), "130 / 140");
  assert.equal(cell(rows, "client floor p50 / p95 ms"), "40 / 90");
  assert.equal(cell(rows, "hung conns (floor)"), "4 (1)");
});

test("a figure without samples (NaN, stored as null) shows as -", () => {
  const none = run({ ...newSeries, agent: { p50Ms: NaN, p95Ms: NaN, samplesMs: [null] } });
  assert.equal(cell(reactionRows([none]), "agent p50 / p95 ms"), "-");
  const stored = JSON.parse(JSON.stringify(none)) as ReactionRun;
  assert.equal(cell(reactionRows([stored]), "agent p50 / p95 ms"), "-");
});

test("the target is judged on the whole figure, with the agent's part and the floor beside it", () => {
  const rows = renumberTargetRows([run(newSeries), run({ ...newSeries, p95Ms: 301 })]);
  assert.deepEqual(rows[1], ["haproxy", "260", "140", "90", "≤ 300", "yes"]);
  assert.equal(rows[2]?.at(-1), "no");
});

test("a run stored before the floor was measured renders with - and says its device dropped SYNs", () => {
  const results: ReactionResults = {
    date: "2026-12-01T07:33:08.654Z",
    trials: 5,
    reaction: [run(oldSeries)],
    scale: [],
  };
  const rows = reactionRows(results.reaction);
  assert.equal(cell(rows, "client floor p50 / p95 ms"), "-");
  assert.equal(cell(rows, "hung conns (floor)"), "-");
  const page = renderReactionSection(results);
  assert.match(page, /predates the client floor/);
  assert.match(page, /busybox httpd\./);
  assert.doesNotMatch(page, /The device's server is nginx/);
});

test("a new run says the device is nginx and how loaded the machine was", () => {
  const results: ReactionResults = {
    date: "2026-12-01T11:00:00.000Z",
    trials: 3,
    host: { cpus: 2, loadStart: 9.04, loadEnd: 11.5 },
    reaction: [run(newSeries)],
    scale: [],
  };
  const page = renderReactionSection(results);
  assert.match(page, /The device's server is nginx/);
  assert.match(
    page,
    /2 CPUs, shared with other work; 1-minute load average 9\.0 at the start and 11\.5 at the end\./,
  );
});
