// Figures read from a lab agent's own log (pino JSON lines, as the lab's AgentProcess parses them), shared by the
// benches: the processes the runner started in a window, the reconciles until serving, a reload that changes
// nothing. Reconcile time comes from the agent's "reconciled" records (durationMs: first step to last); processes
// from the runner's debug records, so the agent must run at logLevel debug.
import { performance } from "node:perf_hooks";
import { signalPid, sleep, waitFor, type AgentProcess } from "../test/lab/lab.js";

export type LogRecord = Record<string, unknown>;

/** A record's pino `time` (ms since the epoch); NaN when it has none. */
export const time = (r: LogRecord): number => (typeof r.time === "number" ? r.time : NaN);

/**
 * The runner's records logged between two instants (ms since the epoch): "command" = a one-shot such as nft,
 * "spawned" = a long-running child such as socat (src/effects/exec.ts logs both at debug), by program.
 */
export function processesIn(logs: readonly LogRecord[], from: number, to: number) {
  const inside = logs.filter((r) => time(r) >= from && time(r) <= to);
  const argv0 = (r: LogRecord) => (Array.isArray(r.argv) ? String(r.argv[0]) : "?");
  const byProgram: Record<string, number> = {};
  for (const r of inside.filter((x) => x.msg === "command" || x.msg === "spawned"))
    byProgram[argv0(r)] = (byProgram[argv0(r)] ?? 0) + 1;
  return {
    commands: inside.filter((r) => r.msg === "command").length,
    spawned: inside.filter((r) => r.msg === "spawned").length,
    byProgram,
  };
}

export interface ReconcileFigures {
  /** Reconciles from the start until serving (more than one when facts arrived in steps). */
  reconciles: number;
  firstReconcileMs: number;
  totalReconcileMs: number;
  steps: number;
  /** Processes the runner started inside those reconciles. */
  commands: number;
  spawned: number;
  byProgram: Record<string, number>;
}

/** The reconciles an agent logged so far and the processes started inside them; throws when there is none. */
export function reconcileFigures(agent: AgentProcess): ReconcileFigures {
  const logs = agent.logs();
  const reconciled = logs.filter((r) => r.msg === "reconciled");
  if (reconciled.length === 0) throw new Error(`no reconcile logged\n${agent.tail()}`);
  const figures: ReconcileFigures = {
    reconciles: reconciled.length,
    firstReconcileMs: Number(reconciled[0]?.durationMs),
    totalReconcileMs: reconciled.reduce((s, r) => s + Number(r.durationMs), 0),
    steps: 0,
    commands: 0,
    spawned: 0,
    byProgram: {},
  };
  for (const r of reconciled) {
    const ms = Number(r.durationMs);
    // A few ms of slack before the window: the reconcile's clock starts just before its first step's record.
    const p = processesIn(logs, time(r) - ms - 5, time(r));
    figures.commands += p.commands;
    figures.spawned += p.spawned;
    figures.steps += Array.isArray(r.steps) ? r.steps.length : 0;
    for (const [k, v] of Object.entries(p.byProgram)) figures.byProgram[k] = (figures.byProgram[k] ?? 0) + v;
  }
  return figures;
}

/**
 * A reload of the same file (SIGHUP): a change of nothing. ms until the agent logged "configuration reloaded", and
 * the processes it started in the 2 s after the signal (whatever the reload sets off has happened by then).
 */
export async function noopReload(
  agent: AgentProcess,
): Promise<{ ms: number; commands: number; spawned: number }> {
  const seen = agent.stdoutLines.length;
  const sent = Date.now();
  const started = performance.now();
  signalPid(agent.pid, "SIGHUP");
  await waitFor(() => agent.logs().some((r) => r.msg === "configuration reloaded" && time(r) >= sent), {
    timeoutMs: 10_000,
    message: () => agent.tail(),
  });
  const ms = Math.round(performance.now() - started);
  await sleep(2_000);
  if (agent.stdoutLines.length === seen) throw new Error("the reload logged nothing");
  const { commands, spawned } = processesIn(agent.logs(), sent, Date.now());
  return { ms, commands, spawned };
}

/** SIGTERM, then SIGKILL when it is still there after 10 s. */
export async function stopAgent(agent: AgentProcess): Promise<void> {
  agent.stop("SIGTERM");
  if ((await agent.waitExit(10_000)) === undefined) {
    agent.stop("SIGKILL");
    await agent.waitExit(5_000);
  }
}
