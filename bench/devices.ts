// Several devices (issue 8): what the first reconcile costs for 1, 8 and 32 devices with 2 ports each, what a
// reload that changes nothing costs, and the idle agent's memory at 32 devices. In the network lab, the agent from
// dist/ (`node dist/cli/main.js run`); the devices are configured addresses on the lab's device namespace, so no
// DHCP is involved. Prints a table, writes bench/results/devices.json.
//
//   npm run bench -- devices
//   BENCH_DEVICE_COUNTS="1 8 32"   the device counts (default)
//   BENCH_IDLE_S=60                how long the 32-device agent idles before its RSS is read (default 60)
//
// Reconcile time: the agent's "reconciled" log records (durationMs: from the first step to the last). Processes
// spawned: the runner's debug records ("command" = a one-shot such as nft, "spawned" = a long-running child such
// as socat) logged inside a reconcile's window; socat listeners are also counted in the gateway namespace.
import { mkdirSync, writeFileSync } from "node:fs";
import { createLab, sleep, waitFor, type AgentProcess, type JsonValue, type Lab } from "../test/lab/lab.js";
import { noopReload, reconcileFigures, stopAgent, type ReconcileFigures } from "./agent-figures.js";
import { rssKiB } from "./memory-lab.js";

const COUNTS = (process.env.BENCH_DEVICE_COUNTS ?? "1 8 32").split(/\s+/).filter(Boolean).map(Number);
const IDLE_S = Number(process.env.BENCH_IDLE_S ?? 60);
// The health tick (probes, drift check) hourly, so nothing but the measured work runs meanwhile.
const HOURLY = { schedule: "0 0 * * * *" };

/** Device i: 192.168.1.(10+i) on the lab device's eth0, listen 10000+2i and 10001+2i -> its httpd's 80 and 23. */
function devicesConfig(n: number): Record<string, JsonValue>[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `d${String(i)}`,
    address: `192.168.1.${String(10 + i)}`,
    ports: [
      { listen: 10000 + 2 * i, target: 80 },
      { listen: 10001 + 2 * i, target: 23 },
    ],
  }));
}

async function writeDevicesConfig(lab: Lab, n: number, logLevel: string): Promise<string> {
  return lab.writeConfig(
    { device: undefined, ports: undefined, devices: devicesConfig(n), health: HOURLY, logLevel },
    `devices-${String(n)}-${logLevel}.yaml`,
  );
}

/** Starts an agent for n devices and waits until every device serves and every socat listens. */
async function serve(lab: Lab, n: number, logLevel: string): Promise<AgentProcess> {
  const agent = lab.startAgent(await writeDevicesConfig(lab, n, logLevel));
  await agent.waitPhase("serving", 120_000);
  await waitFor(async () => (await lab.socatListeners()).length === 2 * n, {
    timeoutMs: 30_000,
    message: () => `socat listeners for ${String(n)} devices\n${agent.tail()}`,
  });
  return agent;
}

interface CountFigures extends ReconcileFigures {
  devices: number;
  listeners: number;
  socatListeners: number;
  noopReload: { ms: number; commands: number; spawned: number; listenersKept: boolean };
}

async function measureCount(lab: Lab, n: number): Promise<CountFigures> {
  const agent = await serve(lab, n, "debug");
  try {
    const figures = reconcileFigures(agent);
    const pidsBefore = (await lab.socatListeners()).map((s) => s.pid).sort();
    const noop = await noopReload(agent);
    const pidsAfter = (await lab.socatListeners()).map((s) => s.pid).sort();
    return {
      devices: n,
      listeners: 2 * n,
      ...figures,
      socatListeners: pidsBefore.length,
      noopReload: { ...noop, listenersKept: JSON.stringify(pidsBefore) === JSON.stringify(pidsAfter) },
    };
  } finally {
    await stopAgent(agent);
  }
}

async function main(): Promise<void> {
  const lab = await createLab();
  try {
    const most = Math.max(...COUNTS, 32);
    await lab.ipBatch(
      "dev",
      Array.from({ length: most }, (_, i) => `addr add 192.168.1.${String(10 + i)}/24 dev eth0`),
    );
    const figures: CountFigures[] = [];
    for (const n of COUNTS) {
      figures.push(await measureCount(lab, n));
      process.stderr.write(`${String(n)} devices: ${JSON.stringify(figures.at(-1))}\n`);
    }

    // Idle memory at 32 devices, at the shipped log level (info), after IDLE_S seconds of serving.
    const agent = await serve(lab, 32, "info");
    let idle: { devices: number; idleS: number; rssKiB: number; rssKiBAtServing: number };
    try {
      const atServing = rssKiB(agent.pid);
      await sleep(IDLE_S * 1000);
      idle = { devices: 32, idleS: IDLE_S, rssKiB: rssKiB(agent.pid), rssKiBAtServing: atServing };
    } finally {
      await stopAgent(agent);
    }

    const results = {
      date: new Date().toISOString(),
      note:
        "agent = node dist/cli/main.js run in the lab's gateway namespace; devices by configured address, 2 ports " +
        "each; reconcile ms from the agent's 'reconciled' records; commands/spawned = the runner's debug records " +
        "inside those reconciles; no-op = SIGHUP with the same file (ms until 'configuration reloaded', processes " +
        "in the 2 s after); RSS = VmRSS at log level info",
      counts: figures,
      idle,
    };
    console.log(
      "devices  listeners  reconciles  first ms  total ms  steps  spawned  commands  socat  no-op ms  no-op procs",
    );
    for (const f of figures)
      console.log(
        [
          String(f.devices).padStart(7),
          String(f.listeners).padStart(10),
          String(f.reconciles).padStart(11),
          String(f.firstReconcileMs).padStart(9),
          String(f.totalReconcileMs).padStart(9),
          String(f.steps).padStart(6),
          String(f.spawned).padStart(8),
          String(f.commands).padStart(9),
          String(f.socatListeners).padStart(6),
          String(f.noopReload.ms).padStart(9),
          `${String(f.noopReload.commands + f.noopReload.spawned).padStart(12)}${f.noopReload.listenersKept ? "" : " (listeners restarted!)"}`,
        ].join(" "),
      );
    console.log(
      `idle RSS at 32 devices: ${String(idle.rssKiB)} KiB after ${String(IDLE_S)} s (${String(idle.rssKiBAtServing)} KiB when it began serving)`,
    );
    mkdirSync("bench/results", { recursive: true });
    writeFileSync("bench/results/devices.json", `${JSON.stringify(results, null, 2)}\n`);
    console.log("wrote bench/results/devices.json");
  } finally {
    await lab.destroy();
  }
}

await main();
