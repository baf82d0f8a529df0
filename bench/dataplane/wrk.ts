// wrk's text report, parsed (wrk 4.1, the Debian package: wrk has no machine-readable output without a Lua
// script). Source of the format: wrk's src/wrk.c (print_stats, print_stats_latency, format_binary, format_time).
//
//   Running 5s test @ http://[2001:db8:1::1]:9001/small.html
//     1 threads and 16 connections
//     ...
//     Latency Distribution
//        50%  384.00us
//        99%    2.81ms
//     61234 requests in 5.00s, 14.72MB read
//     Socket errors: connect 0, read 3, write 0, timeout 0
//     Non-2xx or 3xx responses: 2
//   Requests/sec:  12246.80
//   Transfer/sec:      2.94MB

/** One wrk run: rates per second over the whole run, latency percentiles in milliseconds. */
export interface WrkResult {
  requests: number;
  requestsPerSec: number;
  /** Response bytes (headers and body) per second, as wrk counts them. */
  bytesPerSec: number;
  /** Latency percentiles (only with --latency; NaN otherwise). */
  p50Ms: number;
  p99Ms: number;
  /** Socket errors of every kind (connect, read, write, timeout) plus non-2xx/3xx answers. */
  errors: number;
}

// format_time: "us", "ms", "s", "m", "h" after a number with two decimals.
const TIME_UNIT_MS: Readonly<Record<string, number>> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
// format_binary: base 1024, "" (bytes), "K", "M", "G", "T", "P" before "B".
const BINARY_UNIT: Readonly<Record<string, number>> = {
  "": 1,
  K: 1024,
  M: 1024 ** 2,
  G: 1024 ** 3,
  T: 1024 ** 4,
};

function timeMs(text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text ?? "");
  if (m?.[1] === undefined || m[2] === undefined) return NaN;
  return Number(m[1]) * (TIME_UNIT_MS[m[2]] ?? NaN);
}

function binaryBytes(text: string | undefined): number {
  const m = /^([\d.]+)([KMGT]?)B$/.exec(text ?? "");
  if (m?.[1] === undefined || m[2] === undefined) return NaN;
  return Number(m[1]) * (BINARY_UNIT[m[2]] ?? NaN);
}

/** Parses wrk's report; throws when the summary lines are missing (wrk failed, or another format). */
export function parseWrk(text: string): WrkResult {
  const requests = /^\s*(\d+) requests in /m.exec(text)?.[1];
  const rps = /^Requests\/sec:\s+([\d.]+)\s*$/m.exec(text)?.[1];
  const transfer = /^Transfer\/sec:\s+(\S+)\s*$/m.exec(text)?.[1];
  if (requests === undefined || rps === undefined || transfer === undefined)
    throw new Error(`not a wrk report:\n${text.slice(0, 2000)}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = socket === null ? 0 : socket.slice(1).reduce((sum, n) => sum + Number(n), 0);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  const percentile = (p: number) => timeMs(new RegExp(`^\\s+${p}%\\s+(\\S+)\\s*$`, "m").exec(text)?.[1]);
  return {
    requests: Number(requests),
    requestsPerSec: Number(rps),
    bytesPerSec: binaryBytes(transfer),
    p50Ms: percentile(50),
    p99Ms: percentile(99),
    errors: socketErrors + non2xx,
  };
}
