// The agent under test, run as a real child process inside the gateway namespace.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { PHASES, type PhaseName } from "../../src/core/phase.js";
import { fdCount } from "./procs.js";
import { pidAlive, run, signalPid, waitFor, type ExecResult } from "./util.js";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
/**
 * What ships (docs/operations.md): the bundle, dist/sixgate.mjs with its chunks, not tsc's dist/cli/main.js. The
 * bundle replaces some of its dependencies' modules (scripts/bundle.js), so the lab runs it, never a stand-in.
 */
export const AGENT_CLI = fileURLToPath(new URL("../../dist/sixgate.mjs", import.meta.url));

export type Phase = PhaseName;

// The status contract (`sixgate status --json`). Optional/nullable where the agent may not know yet.
const endpoint = z.object({
  interface: z.string().optional(),
  address: z.string().nullable().optional(),
});
const portText = z.union([z.number().int(), z.string().regex(/^\d+-\d+$/)]);
export const statusSchema = z.object({
  pid: z.number().int(),
  phase: z.enum(PHASES),
  waitingFor: z
    .enum(["wan-link", "wan-address", "lan-link", "lan-address", "device", "own-address"])
    .nullable()
    .optional(),
  reason: z.string().nullable().optional(),
  enabled: z.boolean(),
  // A port, or a range as written ("8000-8010").
  ports: z.array(z.object({ listen: portText, target: portText })),
  portsSource: z.enum(["config", "runtime"]),
  wan: endpoint,
  flaps: z.record(z.string(), z.object({ flaps: z.number().int(), heldDown: z.boolean() })).optional(),
  lan: endpoint,
  device: z.object({
    mac: z.string().nullable().optional(),
    address: z.string().nullable().optional(),
    source: z.string().nullable().optional(),
  }),
  /** Every device (several-devices agents); absent from a 0.1 agent's status. */
  devices: z
    .array(
      z.object({
        name: z.string(),
        phase: z.enum(PHASES),
        reason: z.string().nullable(),
        address: z.string().nullable(),
        source: z.string().nullable(),
        hostname: z.string().nullable().optional(),
        /** Where its listeners bind (own addresses, issue 11); absent before. */
        ipv6: z
          .object({
            mode: z.enum(["shared", "own"]),
            address: z.string().nullable(),
            state: z.enum(["absent", "tentative", "valid", "dadfailed"]).nullable(),
          })
          .optional(),
        listeners: z.array(
          z.object({ listen: z.number().int(), pid: z.number().int().nullable(), state: z.string() }),
        ),
      }),
    )
    .optional(),
  listeners: z.array(
    z.object({
      listen: z.number().int(),
      target: z.number().int(),
      state: z.enum(["running", "starting", "restarting", "stopped"]),
      pid: z.number().int().nullable().optional(),
      restarts: z.number().int(),
      connections: z.number().int().optional(),
      connectionErrors: z.number().int().optional(),
    }),
  ),
  firewall: z.object({ backend: z.enum(["nft", "iptables"]).nullable() }),
  problems: z.array(z.string()).optional(),
  dns: z
    .object({
      server: z.string(),
      zone: z.string(),
      records: z.array(
        z.object({
          name: z.string(),
          address: z.string().nullable(),
          state: z.enum(["ok", "pending", "failed"]),
          lastError: z.string().nullable(),
          updatedAt: z.string().nullable(),
          latencyMs: z.number().nullable(),
        }),
      ),
    })
    .nullable()
    .optional(),
  lastProbe: z
    .object({
      at: z.string(),
      ok: z.boolean(),
      results: z.array(
        z.object({
          hop: z.enum(["device", "end-to-end"]),
          listen: z.number().int(),
          target: z.number().int(),
          ok: z.boolean(),
          ms: z.number(),
          error: z.string().nullable(),
        }),
      ),
    })
    .nullable(),
});
export type AgentStatus = z.infer<typeof statusSchema>;

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Runs a sixgate CLI command inside a namespace (`ip netns exec NS node dist/cli/main.js ...`), after `prefix` (for
 * example an nsenter into a test's own mount namespace).
 */
export function cliArgv(nsName: string, args: readonly string[], prefix: readonly string[] = []): string[] {
  return [...prefix, "ip", "netns", "exec", nsName, process.execPath, AGENT_CLI, ...args];
}

/** `sixgate status --json --config F`, parsed against the contract; throws with the CLI's output. */
export async function readStatus(
  nsName: string,
  configPath: string,
  prefix: readonly string[] = [],
): Promise<AgentStatus> {
  const r = await statusRaw(nsName, configPath, prefix);
  if (!r.ok) throw new Error(`status exited ${String(r.exitCode)}: ${r.stderr.trim() || r.stdout.trim()}`);
  return statusSchema.parse(JSON.parse(r.stdout));
}

export function statusRaw(
  nsName: string,
  configPath: string,
  prefix: readonly string[] = [],
): Promise<ExecResult> {
  return run(cliArgv(nsName, ["status", "--json", "--config", configPath], prefix), { timeoutMs: 10_000 });
}

export class AgentProcess {
  readonly pid: number;
  readonly stdoutLines: string[] = [];
  stderr = "";
  exitInfo: ExitInfo | undefined;
  private readonly child: ChildProcess;
  private readonly exited: Promise<ExitInfo>;
  private partial = "";

  constructor(
    readonly nsName: string,
    readonly configPath: string,
    extraArgs: readonly string[],
    logPath: string,
    /** Runs before `ip netns exec` (and before every status read): must exec in place, as nsenter -m does. */
    readonly prefix: readonly string[] = [],
  ) {
    const [file, ...args] = cliArgv(nsName, ["run", "--config", configPath, ...extraArgs], prefix);
    this.child = spawn(file ?? "ip", args, { stdio: ["ignore", "pipe", "pipe"] });
    if (this.child.pid === undefined) throw new Error("agent did not start (no pid)");
    // `ip netns exec` execs in place, so this pid is the agent's node process.
    this.pid = this.child.pid;
    const log = createWriteStream(logPath, { flags: "a" });
    this.collect(log);
    this.exited = new Promise((resolve) => {
      this.child.once("exit", (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
    this.exited.finally(() => log.end()).catch(() => undefined);
  }

  private collect(log: WriteStream): void {
    this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      log.write(chunk);
      const parts = (this.partial + chunk).split("\n");
      this.partial = parts.pop() ?? "";
      this.stdoutLines.push(...parts.filter((l) => l !== ""));
    });
    this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      log.write(`[stderr] ${chunk}`);
      this.stderr += chunk;
    });
  }

  get running(): boolean {
    return this.exitInfo === undefined && pidAlive(this.pid);
  }

  /** pino log records (lines that are not JSON are skipped). */
  logs(): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const line of this.stdoutLines) {
      try {
        const v: unknown = JSON.parse(line);
        if (v !== null && typeof v === "object" && !Array.isArray(v)) out.push(v as Record<string, unknown>);
      } catch {
        // Not a log record.
      }
    }
    return out;
  }

  /** The last lines of output, for assertion messages. */
  tail(n = 30): string {
    const out = this.stdoutLines.slice(-n).join("\n");
    const err = this.stderr.split("\n").slice(-n).join("\n");
    return `--- agent ${this.pid} stdout (last ${n}) ---\n${out}\n--- stderr ---\n${err}`;
  }

  stop(signal: NodeJS.Signals = "SIGTERM"): void {
    if (this.exitInfo === undefined) signalPid(this.pid, signal);
  }

  /** Resolves with the exit, or undefined if it did not exit within timeoutMs. */
  async waitExit(timeoutMs: number): Promise<ExitInfo | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        resolve(undefined);
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  status(): Promise<AgentStatus> {
    return readStatus(this.nsName, this.configPath, this.prefix);
  }

  statusRaw(): Promise<ExecResult> {
    return statusRaw(this.nsName, this.configPath, this.prefix);
  }

  /**
   * Waits for a status (parsed against the lab's contract) that satisfies `ok`; a status that cannot be read yet (the
   * agent is starting) is waited out. `what` names the wait in the failure message.
   */
  waitStatus(ok: (s: AgentStatus) => boolean, what: string, timeoutMs = 30_000): Promise<AgentStatus> {
    let last: AgentStatus | undefined;
    return waitFor(
      async () => {
        const r = await this.statusRaw();
        if (!r.ok) return undefined;
        last = statusSchema.parse(JSON.parse(r.stdout));
        return ok(last) ? last : undefined;
      },
      {
        timeoutMs,
        intervalMs: 200,
        message: () => `${what}; last status: ${JSON.stringify(last)}\n${this.tail()}`,
      },
    );
  }

  /** Waits until status reports `phase` (and the optional extra condition). */
  waitPhase(
    phase: Phase,
    timeoutMs = 10_000,
    extra: (s: AgentStatus) => boolean = () => true,
  ): Promise<AgentStatus> {
    let last: AgentStatus | undefined;
    return waitFor(
      async () => {
        last = await this.status();
        return last.phase === phase && extra(last) ? last : undefined;
      },
      {
        timeoutMs,
        intervalMs: 100,
        message: () => `wanted phase ${phase}; last status: ${JSON.stringify(last)}\n${this.tail()}`,
      },
    );
  }

  fdCount(): number | undefined {
    return fdCount(this.pid);
  }
}
