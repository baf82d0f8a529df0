// The tools the agent runs, checked before it starts (`sixgate run`), before `plan`, and by doctor's `tools` check:
// a busybox `ip` (no -json, no monitor), a missing socat or a firewall tool that cannot work is named here, with the
// package that brings the right one, instead of surfacing as a usage text or an agent that never leaves `starting`.
// Every probe is read-only and goes through the one runner with a short timeout.
import type { RunResult, Runner } from "./exec.js";
import { parseLinkDetails } from "../sources/ip-addr.js";

/** sysexits' EX_UNAVAILABLE: `sixgate run` and `sixgate plan` exit with it when a tool they need is not usable. */
export const EXIT_UNAVAILABLE = 69;

/** Each probe's limit: they answer in milliseconds when the tool is fine. */
const PROBE_TIMEOUT_MS = 5000;

/** A tool the agent needs that is missing or not the kind it needs. */
export interface ToolFault {
  /** The command: "ip", "socat", "nft", "iptables-restore". */
  tool: string;
  /** What is wrong with it, e.g. "does not support -json (this is BusyBox's ip)". */
  problem: string;
  /** Which package brings a working one. */
  install: string;
}

export interface ToolCheck {
  /** Empty when every tool works. */
  faults: ToolFault[];
  /** The firewall backend the tools allow ("auto" resolved); undefined when neither works. */
  backend: "nft" | "iptables" | undefined;
}

const PACKAGES = {
  ip: "iproute2 (Debian) or ip-full (OpenWrt)",
  socat: "socat (Debian and OpenWrt)",
  haproxy: "haproxy (Debian and OpenWrt)",
  nft: "nftables (Debian) or nftables-json (OpenWrt)",
  iptables: "iptables (Debian) or iptables-nft (OpenWrt)",
} as const;

/** One line per tool for a person: the tool, what is wrong with it, and what to install. */
export function describeToolFaults(faults: readonly ToolFault[]): string[] {
  const byTool = new Map<string, { problems: Set<string>; install: string }>();
  for (const f of faults) {
    const entry = byTool.get(f.tool) ?? { problems: new Set<string>(), install: f.install };
    entry.problems.add(f.problem);
    byTool.set(f.tool, entry);
  }
  return [...byTool].map(([tool, e]) => `${tool}: ${[...e.problems].join(" and ")}; install ${e.install}`);
}

/** The first line a failed command printed, for a problem text (usage texts are long). */
function firstLine(r: RunResult): string {
  const line = `${r.stderr}\n${r.stdout}`
    .split("\n")
    .map((l) => l.trim())
    .find((l) => l !== "");
  return line === undefined ? `exit code ${r.exitCode}` : line.slice(0, 160);
}

/**
 * Why a probe that did not give the expected answer failed, or undefined when the tool ran and only its answer is in
 * question. The runner reports a missing program as 127 and a timeout as 124 (see exec.ts).
 */
function notRunnable(r: RunResult): string | undefined {
  if (r.exitCode === 127) return "not found on PATH";
  if (r.exitCode === 124) return `did not answer within ${PROBE_TIMEOUT_MS} ms`;
  return undefined;
}

const busybox = (r: RunResult) => /busybox/i.test(`${r.stdout}\n${r.stderr}`);

/** `ip -json addr show dev lo`: iproute2 prints JSON that the agent's one parser of it accepts. */
function judgeIpJson(r: RunResult): string | undefined {
  const cannot = notRunnable(r);
  if (cannot !== undefined) return cannot;
  const kind = busybox(r) ? " (this is BusyBox's ip)" : "";
  if (r.exitCode !== 0) return `does not support -json${kind || `: ${firstLine(r)}`}`;
  try {
    parseLinkDetails(r.stdout);
    return undefined;
  } catch {
    return `printed no JSON for ip -json addr show${kind}`;
  }
}

/**
 * `ip monitor help`: iproute2 answers with its monitor usage ("Usage: ip monitor ...", on stderr, exit 255) and starts
 * nothing; an ip without monitor (BusyBox's) answers with its general usage instead.
 */
function judgeIpMonitor(r: RunResult): string | undefined {
  const cannot = notRunnable(r);
  if (cannot !== undefined) return cannot;
  if (/usage:\s*ip monitor/i.test(`${r.stderr}\n${r.stdout}`)) return undefined;
  return `has no monitor command${busybox(r) ? " (this is BusyBox's ip)" : ""}`;
}

/** `socat -V`: prints its version. */
function judgeSocat(r: RunResult): string | undefined {
  const cannot = notRunnable(r);
  if (cannot !== undefined) return cannot;
  if (r.exitCode === 0 && /socat version/i.test(r.stdout)) return undefined;
  return `is not a working socat: ${firstLine(r)}`;
}

/** `haproxy -v`: prints its version ("HAProxy version 2.6.12-1 ..."); 2.2 or later has the keepalive keywords used. */
function judgeHaproxy(r: RunResult): string | undefined {
  const cannot = notRunnable(r);
  if (cannot !== undefined) return cannot;
  const m = /HA-?Proxy version (\d+)\.(\d+)/i.exec(r.stdout);
  if (r.exitCode !== 0 || m === null) return `is not a working haproxy: ${firstLine(r)}`;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 2 || (major === 2 && minor >= 2)
    ? undefined
    : `is version ${major}.${minor}; 2.2 or later is needed`;
}

/**
 * `nft -j list tables`: the nft backend applies with nft and reads back with `nft -j` (a build without JSON says so);
 * a failure here is also what a missing nf_tables or missing privileges look like.
 */
function judgeNft(r: RunResult): string | undefined {
  const cannot = notRunnable(r);
  if (cannot !== undefined) return cannot;
  if (r.exitCode !== 0) {
    if (/json/i.test(r.stderr)) return `was built without JSON support: ${firstLine(r)}`;
    return `cannot list the ruleset (root and nf_tables are needed): ${firstLine(r)}`;
  }
  try {
    JSON.parse(r.stdout);
    return undefined;
  } catch {
    return "printed no JSON for nft -j list tables";
  }
}

/** `iptables-restore --version` or `iptables-save --version`: the iptables backend applies and reads with these. */
function judgeIptablesTool(r: RunResult): string | undefined {
  const cannot = notRunnable(r);
  if (cannot !== undefined) return cannot;
  return r.exitCode === 0 ? undefined : `does not run: ${firstLine(r)}`;
}

const probe = (runner: Runner, argv: readonly string[]) => runner.run(argv, { timeoutMs: PROBE_TIMEOUT_MS });

/** The faults of `ip` (-json and monitor), as checkTools reports them; empty when it is iproute2's. */
export async function checkIp(runner: Runner): Promise<ToolFault[]> {
  const [json, monitor] = await Promise.all([
    probe(runner, ["ip", "-json", "addr", "show", "dev", "lo"]),
    probe(runner, ["ip", "monitor", "help"]),
  ]);
  return [judgeIpJson(json), judgeIpMonitor(monitor)]
    .filter((p): p is string => p !== undefined)
    .map((problem) => ({ tool: "ip", problem, install: PACKAGES.ip }));
}

async function checkIptables(runner: Runner): Promise<ToolFault[]> {
  const tools = ["iptables-restore", "iptables-save"];
  const results = await Promise.all(tools.map((tool) => probe(runner, [tool, "--version"])));
  return results.flatMap((r, i) => {
    const problem = judgeIptablesTool(r);
    return problem === undefined
      ? []
      : [{ tool: tools[i] ?? "iptables", problem, install: PACKAGES.iptables }];
  });
}

/**
 * Checks every tool the agent runs: ip (-json and monitor), socat, and the firewall backend's tools. With
 * firewall "auto", nft is used when it works and iptables otherwise, and only when neither works is that a fault.
 */
export async function checkTools(
  runner: Runner,
  firewall: "auto" | "nft" | "iptables",
  listeners: "socat" | "haproxy" = "socat",
): Promise<ToolCheck> {
  const [ip, socat, haproxy, nft, iptables] = await Promise.all([
    checkIp(runner),
    probe(runner, ["socat", "-V"]).then(judgeSocat),
    // socat stays needed with haproxy: the device-hop probe connects through it.
    listeners === "haproxy" ? probe(runner, ["haproxy", "-v"]).then(judgeHaproxy) : undefined,
    firewall === "iptables" ? undefined : probe(runner, ["nft", "-j", "list", "tables"]).then(judgeNft),
    firewall === "nft" ? [] : checkIptables(runner),
  ]);
  const faults = [...ip];
  if (socat !== undefined) faults.push({ tool: "socat", problem: socat, install: PACKAGES.socat });
  if (haproxy !== undefined) faults.push({ tool: "haproxy", problem: haproxy, install: PACKAGES.haproxy });
  const nftFault = nft === undefined ? [] : [{ tool: "nft", problem: nft, install: PACKAGES.nft }];
  let backend: ToolCheck["backend"];
  if (firewall === "nft") {
    faults.push(...nftFault);
    backend = nftFault.length === 0 ? "nft" : undefined;
  } else if (firewall === "iptables") {
    faults.push(...iptables);
    backend = iptables.length === 0 ? "iptables" : undefined;
  } else if (nftFault.length === 0) {
    backend = "nft";
  } else if (iptables.length === 0) {
    backend = "iptables";
  } else {
    // Either backend would do: name both, nft first (what `auto` prefers).
    faults.push(...nftFault, ...iptables);
  }
  return { faults, backend };
}

/**
 * For `sixgate run` and `sixgate plan`, which need every tool: the firewall backend to use, or undefined after
 * writing what is missing, and which package brings it, to stderr (the caller then exits EXIT_UNAVAILABLE).
 */
export async function requireTools(
  runner: Runner,
  firewall: "auto" | "nft" | "iptables",
  listeners: "socat" | "haproxy" = "socat",
): Promise<"nft" | "iptables" | undefined> {
  const { faults, backend } = await checkTools(runner, firewall, listeners);
  if (backend !== undefined && faults.length === 0) return backend;
  const lines = describeToolFaults(faults)
    .map((line) => `  ${line}\n`)
    .join("");
  process.stderr.write(`sixgate: a tool it needs is missing or not the right kind:\n${lines}`);
  return undefined;
}

/**
 * The problem text for a failure of `ip` after start (the monitor exited, a snapshot failed): `what` happened, and
 * why: the preflight's diagnosis when ip is no longer iproute2's (replaced by an upgrade, a PATH change), else
 * `detail` (the error as it came).
 */
export async function explainIpFailure(runner: Runner, what: string, detail?: string): Promise<string> {
  const faults = await checkIp(runner).catch(() => []);
  if (faults.length > 0) return `${what}: ${describeToolFaults(faults).join("; ")}`;
  return detail === undefined ? what : `${what}: ${detail}`;
}
