// New connections per second through sixgate's socat (spawned and supervised by the built agent) against the same
// socat run by hand, side by side in one lab run: wrk in the client namespace, one request per connection, to a
// fast TCP server in the device namespace. Rounds alternate between the variants so that the load of a shared
// machine falls on all of them alike. Besides the rate, the CPU time the variant's processes spent per connection
// (socat with its reaped children, and the agent): on a shared, loaded machine the rate mostly measures the
// neighbours, the CPU cost much less. Prints a table and writes bench/results/socat-rate.json.
//
//   node --import tsx bench/socat-rate.ts          (root; needs wrk and a built dist/: npm run build)
//   BENCH_ROUNDS=7 BENCH_SECONDS=5 BENCH_CONNECTIONS=16 node --import tsx bench/socat-rate.ts
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createLab, waitFor, type Lab } from "../test/lab/lab.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 16);
const DEVICE_PORT = 8080;
/** USER_HZ: the unit of /proc/PID/stat's times (100 on every Linux build that matters here). */
const CLOCK_TICKS = 100;
/** The ratios' baseline: the same socat by hand with sixgate's backlog, so a ratio is what sixgate adds. */
const BASELINE = "plain socat, backlog=32";

/** Answers each connection's first bytes with a fixed HTTP response and closes: far faster than a socat leg. */
const FAST_SERVER = `
const net = require("node:net");
const answer = "HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\nConnection: close\\r\\n\\r\\nok\\n";
net.createServer((s) => {
  s.on("error", () => undefined);
  s.once("data", () => s.end(answer));
}).listen(${DEVICE_PORT}, "0.0.0.0", 4096);
`;

interface Variant {
  name: string;
  port: number;
  what: string;
  /** The processes whose CPU time the variant costs: the listener (its reaped children included), the agent. */
  pids: number[];
}

interface Sample {
  perSec: number;
  /** CPU time of the variant's processes per connection, ms: the figure the machine's load disturbs least. */
  cpuMsPerConnection: number;
}

/** CPU time of a process and of its children it has waited for (/proc/PID/stat utime stime cutime cstime), ms. */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  return (ticks * 1000) / CLOCK_TICKS;
}

/** wrk with `Connection: close`: every request on a new connection. */
async function measure(lab: Lab, v: Variant): Promise<Sample> {
  const cpuBefore = v.pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
  const r = await lab.execOk(
    "cli",
    [
      "wrk",
      "-t1",
      `-c${CONNECTIONS}`,
      `-d${SECONDS}s`,
      "-H",
      "Connection: close",
      `http://[${lab.wanAddress}]:${v.port}/`,
    ],
    { timeoutMs: (SECONDS + 30) * 1000 },
  );
  const cpu = v.pids.reduce((sum, pid) => sum + cpuMs(pid), 0) - cpuBefore;
  const perSec = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1];
  const requests = /(\d+) requests in/.exec(r.stdout)?.[1];
  if (perSec === undefined || requests === undefined)
    throw new Error(`wrk printed no rate:\n${r.stdout}\n${r.stderr}`);
  const errors = /Non-2xx.*|Socket errors: .*/.exec(r.stdout);
  if (errors !== null) process.stderr.write(`${v.name}: ${errors[0]}\n`);
  return { perSec: Number(perSec), cpuMsPerConnection: cpu / Number(requests) };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
};

async function main(): Promise<void> {
  const lab = await createLab();
  try {
    lab.spawn("dev", [process.execPath, "-e", FAST_SERVER], "fast-server");
    await waitFor(async () => (await lab.listeningTcp("dev")).some((l) => l.port === DEVICE_PORT), {
      timeoutMs: 5_000,
    });
    const device = await lab.deviceAddress();
    if (device === undefined) throw new Error("the lab device has no address");

    const config = await lab.writeConfig({
      ports: [{ listen: 9000, target: DEVICE_PORT }],
      logLevel: "info",
      listener: { maxChildren: 1024 },
    });
    const agent = lab.startAgent(config);
    await agent.waitPhase("serving", 20_000);
    // What a user types by hand; and the same with sixgate's backlog (socat's default is 5: a burst of new
    // connections overflows it, and a dropped SYN costs its client a second).
    const plainArgv = (port: number, extra: string) => [
      "socat",
      `TCP6-LISTEN:${port},bind=[${lab.wanAddress}],fork,reuseaddr${extra}`,
      `TCP4:${device}:${DEVICE_PORT}`,
    ];
    lab.spawn("gw", plainArgv(9001, ""), "plain-socat");
    lab.spawn("gw", plainArgv(9002, ",backlog=32"), "plain-socat-backlog");
    await waitFor(
      async () => {
        const ports = new Set((await lab.listeningTcp("gw")).map((l) => l.port));
        return ports.has(9001) && ports.has(9002);
      },
      { timeoutMs: 5_000 },
    );

    const pidOn = async (port: number): Promise<number> => {
      const found = (await lab.socatListeners()).find((l) => l.port === port);
      if (found === undefined) throw new Error(`no socat listens on ${port}`);
      return found.pid;
    };
    const variants: Variant[] = [
      { name: "plain socat", port: 9001, what: plainArgv(9001, "").join(" "), pids: [await pidOn(9001)] },
      {
        name: "sixgate socat (agent)",
        port: 9000,
        what: (await lab.socatListeners()).find((l) => l.port === 9000)?.args.join(" ") ?? "?",
        pids: [await pidOn(9000), agent.pid],
      },
      {
        name: "plain socat, backlog=32",
        port: 9002,
        what: plainArgv(9002, ",backlog=32").join(" "),
        pids: [await pidOn(9002)],
      },
    ];
    const samples = new Map<string, Sample[]>(variants.map((v) => [v.name, []]));
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order so no variant always runs first (after the previous one's TIME_WAITs).
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      const got = new Map<string, Sample>();
      for (const v of order) {
        const sample = await measure(lab, v);
        got.set(v.name, sample);
        samples.get(v.name)?.push(sample);
      }
      ratios.push(
        (got.get("sixgate socat (agent)")?.perSec ?? NaN) / (got.get("plain socat")?.perSec ?? NaN),
      );
      const line = [...got].map(
        ([n, x]) => `${n} ${x.perSec.toFixed(0)}/s ${x.cpuMsPerConnection.toFixed(2)} ms`,
      );
      process.stderr.write(`round ${round + 1}/${ROUNDS}: ${line.join(", ")}\n`);
    }

    const of = (name: string, key: keyof Sample) => median((samples.get(name) ?? []).map((x) => x[key]));
    const round3 = (x: number) => Math.round(x * 1000) / 1000;
    const rows = variants.map((v) => ({
      variant: v.name,
      medianPerSec: Math.round(of(v.name, "perSec")),
      rateRatio: round3(of(v.name, "perSec") / of(BASELINE, "perSec")),
      cpuMsPerConnection: round3(of(v.name, "cpuMsPerConnection")),
      // The baseline's CPU cost per connection over this one's: the rate ratio a CPU-bound gateway would see.
      cpuRatio: round3(of(BASELINE, "cpuMsPerConnection") / of(v.name, "cpuMsPerConnection")),
      argv: v.what,
    }));
    console.log(
      `new connections/s, ${ROUNDS} rounds of ${SECONDS} s, wrk -c${CONNECTIONS}, one request per connection`,
    );
    console.table(rows.map(({ argv: _argv, ...r }) => r));
    console.log(
      `sixgate / ${BASELINE}, rate per round: median ${median(ratios).toFixed(3)} (${ratios.map((r) => r.toFixed(3)).join(", ")})`,
    );
    const dir = fileURLToPath(new URL("./results/", import.meta.url));
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "socat-rate.json"),
      `${JSON.stringify({ at: new Date().toISOString(), rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, rows, perRoundRateRatio: ratios, samples: Object.fromEntries(samples) }, null, 2)}\n`,
    );
  } finally {
    await lab.destroy();
  }
}

await main();
