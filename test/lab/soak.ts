// The chaos soak: the agent serves every configured port to continuous IPv6 client load in the network lab while,
// at seeded random intervals, the WAN is renumbered, the device re-leases, a socat listener is SIGKILLed, the WAN
// cable is pulled and put back, and the broker restarts. Each disturbance opens a switch window that closes when
// every port answers again through the current WAN address (plus a grace); the time until `sixgate status` says
// serving again is measured too. The verdict: no request may fail outside a window, the agent must live, every
// disturbance must heal and be reported as healed.
//
// Used by `npm run soak` (scripts/soak.sh, test/lab/soak-cli.ts; 10 minutes) and test/lab/soak.test.ts (1 minute).
import { readFileSync } from "node:fs";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LAB_MQTT, labState, startLabBroker } from "./broker.js";
import {
  createLab,
  fdCount,
  signalPid,
  sleep,
  waitFor,
  type AgentProcess,
  type Lab,
  type LabProcess,
} from "./lab.js";
import type { LoadRecord } from "./soak-load.js";

export const DISTURBANCES = ["renumber", "re-lease", "kill-socat", "pull-cable", "restart-broker"] as const;
export type DisturbanceKind = (typeof DISTURBANCES)[number];

/** Listen port -> device port: every device port twice, so a disturbance of one listener is seen beside others. */
export const SOAK_PORTS = [
  { listen: 80, target: 80 },
  { listen: 2323, target: 23 },
  { listen: 8080, target: 80 },
  { listen: 8023, target: 23 },
] as const;

export interface SoakOptions {
  seconds: number;
  /** Seeds the choice and timing of disturbances; random (and printed) when absent. */
  seed?: number;
  /** Quiet time between the end of one switch window and the next disturbance, seconds (uniform). */
  gapSeconds?: [number, number];
  /** After a disturbance healed, requests still count as in the window for this long. */
  graceMs?: number;
  /** Longest wait for a disturbance to heal before it is reported as not recovered. */
  recoverTimeoutMs?: number;
  /** Where soak-<stamp>.json/.txt and soak-latest.json/.txt go; nothing is written when undefined. */
  resultsDir?: string;
  log?: (line: string) => void;
}

export interface Disturbance {
  kind: DisturbanceKind;
  detail: string;
  /** ms since the epoch */
  start: number;
  /** When every port answered again through the current WAN address (undefined: never within the timeout). */
  recovered: number | undefined;
  /** The switch window: start .. recovered (or the timeout) + grace. */
  windowEnd: number;
  recoverMs: number | undefined;
  /**
   * From the start until `sixgate status` said serving again (and, after a broker restart, the new broker holds a
   * serving state): how long the dashboard lags behind the data plane. Not part of the window.
   */
  reportMs: number | undefined;
}

export interface ProcessFigures {
  rssKiB: number | undefined;
  fds: number | undefined;
}

export interface SoakReport {
  seed: number;
  seconds: number;
  startedAt: string;
  ports: typeof SOAK_PORTS;
  requests: {
    sent: number;
    answered: number;
    failed: number;
    failedInWindows: number;
    failedOutside: number;
  };
  /** Failures outside every switch window (the first 20), for diagnosis. */
  outsideFailures: LoadRecord[];
  disturbances: Disturbance[];
  disturbanceCounts: Record<DisturbanceKind, number>;
  recoverMs: { kind: DisturbanceKind; p50: number | null; max: number | null }[];
  reportMs: { kind: DisturbanceKind; p50: number | null; max: number | null }[];
  agent: {
    alive: boolean;
    exit: string | null;
    start: ProcessFigures;
    end: ProcessFigures;
    reconciles: number;
    processSpawns: number;
    reconcilesPerHour: number;
    processSpawnsPerHour: number;
  };
  ok: boolean;
  problems: string[];
}

/** mulberry32: a small seeded generator, so a soak's chaos can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function figures(pid: number): ProcessFigures {
  let rssKiB: number | undefined;
  try {
    rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
  } catch {
    rssKiB = undefined;
  }
  return { rssKiB, fds: fdCount(pid) };
}

function percentile(values: number[], q: number): number | null {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? null : (s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? null);
}

const LOAD_SCRIPT = fileURLToPath(new URL("./soak-load.ts", import.meta.url));

/** A request failed inside a window when its lifetime [t0, t1] overlaps the window. */
function inWindow(r: LoadRecord, windows: readonly Disturbance[]): boolean {
  return windows.some((w) => r.t1 >= w.start && r.t0 <= w.windowEnd);
}

class Soak {
  private readonly random: () => number;
  private bag: DisturbanceKind[] = [];
  private renumbers = 0;
  private leases = 0;
  private readonly addressFile: string;

  constructor(
    private readonly lab: Lab,
    private readonly agent: AgentProcess,
    private readonly options: Required<Omit<SoakOptions, "resultsDir" | "seed">> & { seed: number },
  ) {
    this.random = seededRandom(options.seed);
    this.addressFile = join(lab.dir, "soak-address");
  }

  private get runtimeDir(): string {
    return join(this.lab.dir, "run");
  }

  /** Every kind once per round, in a seeded random order: a short soak still sees each kind. */
  nextKind(): DisturbanceKind {
    if (this.bag.length === 0) {
      this.bag = [...DISTURBANCES];
      for (let i = this.bag.length - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        [this.bag[i], this.bag[j]] = [this.bag[j] as DisturbanceKind, this.bag[i] as DisturbanceKind];
      }
    }
    return this.bag.pop() ?? "renumber";
  }

  gapMs(): number {
    const [min, max] = this.options.gapSeconds;
    return Math.round((min + this.random() * (max - min)) * 1000);
  }

  async publishAddress(): Promise<void> {
    await writeFile(this.addressFile, `${this.lab.wanAddress}\n`);
  }

  startLoad(): LabProcess {
    const mappings = SOAK_PORTS.map((p) => `${p.listen}:${p.target}`).join(",");
    const tsx = import.meta.resolve("tsx");
    return this.lab.spawn(
      "cli",
      [process.execPath, "--import", tsx, LOAD_SCRIPT, this.addressFile, mappings, "200", "3000"],
      "soak-load",
    );
  }

  /** Does one disturbance; returns what was done. */
  async disturb(kind: DisturbanceKind): Promise<string> {
    const lab = this.lab;
    switch (kind) {
      case "renumber": {
        const next = `2001:db8:1::${(0x1000 + ++this.renumbers).toString(16)}`;
        const { old } = await lab.renumberWan(next);
        await this.publishAddress();
        return `${old} -> ${next}`;
      }
      case "re-lease": {
        // Alternate between two addresses of the DHCP range, away from the first lease.
        const address = `192.168.1.${130 + (++this.leases % 2)}`;
        await lab.newDeviceLease(address);
        return `device -> ${address}`;
      }
      case "kill-socat": {
        const port = SOAK_PORTS[Math.floor(this.random() * SOAK_PORTS.length)]?.listen ?? 80;
        const record = join(this.runtimeDir, "pids", `listener-device-${port}.json`);
        const { pid } = JSON.parse(await readFile(record, "utf8")) as { pid: number };
        signalPid(pid, "SIGKILL");
        return `SIGKILL socat pid ${pid} (port ${port})`;
      }
      case "pull-cable": {
        const downMs = 1000 + Math.round(this.random() * 4000);
        await lab.setWanCable(false);
        await sleep(downMs);
        await lab.setWanCable(true);
        return `WAN cable out for ${downMs} ms`;
      }
      case "restart-broker": {
        const brokers = (await lab.processesIn("gw")).filter((p) => p.comm === "mosquitto");
        for (const b of brokers) signalPid(b.pid, "SIGTERM");
        await waitFor(async () => !(await lab.processesIn("gw")).some((p) => p.comm === "mosquitto"), {
          timeoutMs: 5_000,
        });
        await startLabBroker(lab);
        return `mosquitto ${brokers.map((b) => b.pid).join(",")} restarted`;
      }
    }
  }

  /** Every port answers through the current WAN address: the data plane serves again. */
  async answering(): Promise<boolean> {
    for (const p of SOAK_PORTS) {
      const r = await this.lab.curl6(p.listen, this.lab.wanAddress, { connectTimeoutS: 1, maxTimeS: 2 });
      if (r.answer?.port !== p.target) return false;
    }
    return true;
  }

  /** The agent says serving (and, after a broker restart, has told the new broker so: persistence is off). */
  async reportsServing(kind: DisturbanceKind): Promise<boolean> {
    // The status file `sixgate status` prints, read directly: starting the CLI takes seconds on a loaded machine.
    const status = JSON.parse(await readFile(join(this.runtimeDir, "status.json"), "utf8")) as {
      phase?: unknown;
    };
    if (status.phase !== "serving") return false;
    return kind !== "restart-broker" || (await labState(this.lab))?.phase === "serving";
  }

  /** Polls until `check` holds; the time it first held, or undefined after the timeout. */
  private async until(check: () => Promise<boolean>): Promise<number | undefined> {
    const check$ = async () => ((await check()) ? Date.now() : undefined);
    return waitFor(check$, { timeoutMs: this.options.recoverTimeoutMs, intervalMs: 200 }).catch(
      () => undefined,
    );
  }

  async run(deadline: number): Promise<Disturbance[]> {
    const done: Disturbance[] = [];
    const { graceMs, log } = this.options;
    for (;;) {
      const gap = this.gapMs();
      if (Date.now() + gap >= deadline) {
        await sleep(Math.max(0, deadline - Date.now()));
        return done;
      }
      await sleep(gap);
      const kind = this.nextKind();
      const start = Date.now();
      let detail: string;
      try {
        detail = await this.disturb(kind);
      } catch (e) {
        detail = `could not disturb: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`;
      }
      const recovered = await this.until(() => this.answering());
      const end = recovered ?? Date.now();
      const reported = await this.until(() => this.reportsServing(kind));
      const d: Disturbance = {
        kind,
        detail,
        start,
        recovered,
        windowEnd: end + graceMs,
        recoverMs: recovered === undefined ? undefined : recovered - start,
        reportMs: reported === undefined ? undefined : reported - start,
      };
      done.push(d);
      log(
        `soak: ${new Date(start).toISOString()} ${kind}: ${detail}; ${
          recovered === undefined ? "NOT RECOVERED" : `every port answers again after ${d.recoverMs} ms`
        }, status says serving after ${d.reportMs ?? "NEVER"} ms`,
      );
      await sleep(graceMs);
      if (!this.agent.running) return done;
    }
  }

  countLogs(): { reconciles: number; spawns: number } {
    let reconciles = 0;
    let spawns = 0;
    for (const record of this.agent.logs()) {
      if (record.msg === "reconciled") reconciles++;
      // The runner logs each process it starts: "command" (run to completion) and "spawned" (long-running).
      if (record.msg === "command" || record.msg === "spawned") spawns++;
    }
    return { reconciles, spawns };
  }

  async stopLoad(load: LabProcess): Promise<LoadRecord[]> {
    signalPid(load.pid, "SIGTERM");
    await Promise.race([load.exited, sleep(10_000)]);
    if (load.exitInfo === undefined) signalPid(load.pid, "SIGKILL");
    const text = await readFile(join(this.lab.dir, "soak-load.log"), "utf8").catch(() => "");
    return text
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as LoadRecord);
  }
}

/** Runs a soak in a fresh lab (built and destroyed here, on every path) and returns its report. */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const settings = {
    seconds: options.seconds,
    seed,
    gapSeconds: options.gapSeconds ?? ([5, 20] as [number, number]),
    graceMs: options.graceMs ?? 2_000,
    recoverTimeoutMs: options.recoverTimeoutMs ?? 60_000,
    log,
  };
  log(`soak: ${options.seconds} s, seed ${seed} (SOAK_SEED=${seed} replays the same chaos)`);
  const startedAt = new Date().toISOString();
  const lab = await createLab();
  try {
    await startLabBroker(lab);
    const config = await lab.writeConfig({
      ports: SOAK_PORTS.map((p) => ({ ...p })),
      mqtt: LAB_MQTT,
    });
    const agent = lab.startAgent(config);
    await agent.waitPhase("serving", 30_000);
    const soak = new Soak(lab, agent, settings);
    await soak.publishAddress();
    const load = soak.startLoad();
    // The load is running before the clock starts: its first answers prove the baseline.
    await waitFor(() => lab.readLog("soak-load").includes('"ok":true'), { timeoutMs: 15_000 });
    const start = figures(agent.pid);
    const t0 = Date.now();
    const disturbances = await soak.run(t0 + options.seconds * 1000);
    const elapsedH = (Date.now() - t0) / 3_600_000;
    const end = figures(agent.pid);
    const alive = agent.running;
    const records = await soak.stopLoad(load);
    const { reconciles, spawns } = soak.countLogs();
    const failed = records.filter((r) => !r.ok);
    const outside = failed.filter((r) => !inWindow(r, disturbances));
    const counts = Object.fromEntries(
      DISTURBANCES.map((k) => [k, disturbances.filter((d) => d.kind === k).length]),
    ) as Record<DisturbanceKind, number>;
    const problems: string[] = [];
    if (!alive) problems.push(`the agent died: ${JSON.stringify(agent.exitInfo)}\n${agent.tail(20)}`);
    if (outside.length > 0) problems.push(`${outside.length} requests failed outside the switch windows`);
    const undone = disturbances.filter((d) => d.detail.startsWith("could not disturb"));
    if (undone.length > 0)
      problems.push(
        `${undone.length} disturbances could not be made: ${undone.map((d) => d.detail).join("; ")}`,
      );
    const unhealed = disturbances.filter((d) => d.recovered === undefined);
    if (unhealed.length > 0)
      problems.push(
        `${unhealed.length} disturbances did not heal: ${unhealed.map((d) => d.kind).join(", ")}`,
      );
    const unreported = disturbances.filter((d) => d.reportMs === undefined);
    if (unreported.length > 0)
      problems.push(
        `after ${unreported.length} disturbances the agent never said serving again: ${unreported.map((d) => d.kind).join(", ")}`,
      );
    if (records.length === 0) problems.push("no requests were sent");
    const report: SoakReport = {
      seed,
      seconds: options.seconds,
      startedAt,
      ports: SOAK_PORTS,
      requests: {
        sent: records.length,
        answered: records.length - failed.length,
        failed: failed.length,
        failedInWindows: failed.length - outside.length,
        failedOutside: outside.length,
      },
      outsideFailures: outside.slice(0, 20),
      disturbances,
      disturbanceCounts: counts,
      recoverMs: spread(disturbances, (d) => d.recoverMs),
      reportMs: spread(disturbances, (d) => d.reportMs),
      agent: {
        alive,
        exit: agent.exitInfo === undefined ? null : JSON.stringify(agent.exitInfo),
        start,
        end,
        reconciles,
        processSpawns: spawns,
        reconcilesPerHour: Math.round(reconciles / elapsedH),
        processSpawnsPerHour: Math.round(spawns / elapsedH),
      },
      ok: problems.length === 0,
      problems,
    };
    if (options.resultsDir !== undefined) {
      await writeResults(options.resultsDir, report);
      // The lab directory goes with the lab: keep what a diagnosis needs beside the figures.
      for (const name of ["agent-1.log", "soak-load.log"]) {
        await copyFile(join(lab.dir, name), join(options.resultsDir, `soak-latest-${name}`)).catch(
          () => undefined,
        );
      }
    }
    log(summary(report));
    return report;
  } finally {
    await lab.destroy();
  }
}

/** p50 and max of one duration per kind of disturbance. */
function spread(
  disturbances: readonly Disturbance[],
  ms: (d: Disturbance) => number | undefined,
): { kind: DisturbanceKind; p50: number | null; max: number | null }[] {
  return DISTURBANCES.map((kind) => {
    const values = disturbances.flatMap((d) => {
      const v = d.kind === kind ? ms(d) : undefined;
      return v === undefined ? [] : [v];
    });
    return { kind, p50: percentile(values, 0.5), max: percentile(values, 1) };
  });
}

/** The short text form of a report. */
export function summary(r: SoakReport): string {
  const fmt = (f: ProcessFigures) => `RSS ${f.rssKiB ?? "?"} KiB, ${f.fds ?? "?"} fds`;
  return [
    `soak ${r.ok ? "PASSED" : "FAILED"}: ${r.seconds} s, seed ${r.seed}, ports ${r.ports.map((p) => p.listen).join(",")}`,
    `requests: ${r.requests.sent} sent, ${r.requests.answered} answered, ${r.requests.failed} failed ` +
      `(${r.requests.failedInWindows} inside switch windows, ${r.requests.failedOutside} outside)`,
    `disturbances: ${DISTURBANCES.map((k) => `${k} ${r.disturbanceCounts[k]}`).join(", ")}`,
    `every port answers again after (p50 / max ms): ${spreadText(r.recoverMs)}`,
    `status says serving again after (p50 / max ms): ${spreadText(r.reportMs)}`,
    `agent: ${r.agent.alive ? "alive" : `DIED ${r.agent.exit ?? ""}`}; start ${fmt(r.agent.start)}; end ${fmt(r.agent.end)}`,
    `reconciles ${r.agent.reconciles} (${r.agent.reconcilesPerHour}/h), process spawns ${r.agent.processSpawns} (${r.agent.processSpawnsPerHour}/h)`,
    ...r.problems.map((p) => `problem: ${p}`),
  ].join("\n");
}

function spreadText(spreads: SoakReport["recoverMs"]): string {
  return spreads.map((x) => `${x.kind} ${x.p50 ?? "-"}/${x.max ?? "-"}`).join(", ");
}

async function writeResults(dir: string, report: SoakReport): Promise<void> {
  await mkdir(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, "-");
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const text = `${summary(report)}\n`;
  for (const name of [`soak-${stamp}`, "soak-latest"]) {
    await writeFile(join(dir, `${name}.json`), json);
    await writeFile(join(dir, `${name}.txt`), text);
  }
}
