// The data-plane bench's parsing and arithmetic (bench/dataplane/): a wrong parse or a ratio against the wrong
// round would publish wrong figures without any error.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseWrk } from "../../bench/dataplane/wrk.js";
import {
  figureRows,
  renderSvg,
  summarize,
  type PathRun,
  type RoundFigures,
} from "../../bench/dataplane/report.js";

// Real wrk 4.1 reports (Debian's wrk, against python3 -m http.server in a namespace).
const WRK_CLOSE = `Running 1s test @ http://[::1]:8080/x
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.82ms    6.30ms  51.90ms   94.34%
    Req/Sec   752.00    197.72     1.00k    80.00%
  Latency Distribution
     50%    1.99ms
     75%    3.69ms
     90%    6.88ms
     99%   41.08ms
  755 requests in 1.02s, 148.94KB read
Requests/sec:    740.44
Transfer/sec:    146.06KB
`;
const WRK_404 = `Running 1s test @ http://[::1]:8080/nothere
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.09ms    2.75ms  19.46ms   88.19%
    Req/Sec   725.10    171.43     0.97k    60.00%
  724 requests in 1.00s, 367.66KB read
  Non-2xx or 3xx responses: 724
Requests/sec:    722.28
Transfer/sec:    366.78KB
`;

test("parseWrk reads rates, percentiles in ms and units in base 1024", () => {
  const r = parseWrk(WRK_CLOSE);
  assert.equal(r.requests, 755);
  assert.equal(r.requestsPerSec, 740.44);
  assert.equal(r.bytesPerSec, 146.06 * 1024);
  assert.equal(r.p50Ms, 1.99);
  assert.equal(r.p99Ms, 41.08);
  assert.equal(r.errors, 0);
  const micro = parseWrk(WRK_CLOSE.replace("1.99ms", "384.00us").replace("146.06KB", "1.50GB"));
  assert.equal(micro.p50Ms, 0.384);
  assert.equal(micro.bytesPerSec, 1.5 * 1024 ** 3);
});

test("parseWrk counts socket errors and non-2xx answers; no --latency gives NaN percentiles", () => {
  const r = parseWrk(WRK_404);
  assert.equal(r.errors, 724);
  assert.ok(Number.isNaN(r.p50Ms));
  const socket = WRK_404.replace(
    "  Non-2xx",
    "  Socket errors: connect 1, read 2, write 3, timeout 4\n  Non-2xx",
  );
  assert.equal(parseWrk(socket).errors, 734);
});

test("parseWrk refuses what is not a wrk report", () => {
  assert.throws(() => parseWrk("unable to connect to ::1:8080 Connection refused\n"), /not a wrk report/);
});

const figures = (newConnPerSec: number, keepAlivePerSec = 100): RoundFigures => ({
  newConnPerSec,
  keepAlivePerSec,
  bulkMBps: 10,
  p50Ms: 1,
  p99Ms: 2,
  errors: 0,
});
const run = (id: string, rounds: (RoundFigures | undefined)[], unavailable?: string): PathRun => ({
  id,
  label: id,
  rounds,
  failures: [],
  ...(unavailable === undefined ? {} : { unavailable }),
});

test("ratios pair each round with the same round of the baseline, skipping failed rounds", () => {
  // The machine slowed down in round 2: paired ratios stay 0.5, a ratio of medians would not.
  const { paths, targets } = summarize([
    run("kernel", [figures(1000), figures(400), figures(1000)]),
    run("socat", [figures(500), figures(200), undefined]),
    run("sixgate-socat", [figures(400), figures(200), figures(100)]),
    run("sixgate-haproxy", [], "not supported"),
  ]);
  const socat = paths.find((p) => p.id === "socat");
  assert.ok(socat);
  assert.equal(socat.ratioToKernel.newConnPerSec, 0.5);
  assert.equal(socat.rounds, 2);
  assert.equal(socat.median?.newConnPerSec, 350);
  // sixgate-socat / socat over rounds 1 and 2 only: 0.8 and 1.0.
  const socatTarget = targets.find((t) => t.path === "sixgate-socat");
  assert.ok(socatTarget);
  assert.equal(socatTarget.reached, 0.9);
  assert.equal(socatTarget.met, false);
  const haproxy = targets.filter((t) => t.path === "sixgate-haproxy");
  assert.equal(haproxy.length, 3);
  assert.ok(haproxy.every((t) => t.reached === undefined && t.met === undefined));
});

test("the chart draws a bar per rate and says when a path did not run", () => {
  const { paths } = summarize([
    run("kernel", [figures(1000)]),
    run("socat", [figures(250, 50)]),
    run("sixgate-haproxy", [], "not supported"),
  ]);
  const svg = renderSvg(paths);
  assert.equal((svg.match(/<rect class="bar"/g) ?? []).length, 6); // kernel and socat, three figures each
  assert.match(svg, />0\.25</);
  assert.match(svg, />not available</);
});

test("the gateway's CPU per new connection is a column (its median) only when the run measured it", () => {
  const cpu = (us: number): RoundFigures => ({ ...figures(1000), gatewayCpuUsPerConn: us });
  const measured = summarize([
    run("kernel", [cpu(0), cpu(0), cpu(0)]),
    run("haproxy", [cpu(40), cpu(60), cpu(45)]),
    run("sixgate-haproxy", [], "not supported"),
  ]);
  const rows = figureRows(measured.paths);
  const column = rows[0]?.indexOf("gateway CPU µs/new conn") ?? -1;
  assert.ok(column > 0);
  assert.deepEqual(
    rows.slice(1).map((r) => r[column]),
    ["0.0", "45.0", "–"],
  );
  // A run stored before the figure existed: no column, no median.
  const old = summarize([run("kernel", [figures(1000)]), run("haproxy", [figures(500)])]);
  assert.equal(old.paths[1]?.median?.gatewayCpuUsPerConn, undefined);
  assert.ok(!(figureRows(old.paths)[0] ?? []).includes("gateway CPU µs/new conn"));
});
