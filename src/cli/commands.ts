// The short commands: plan, status, cleanup.
import type { Logger } from "pino";
import { renderHaproxyConfig } from "../core/render/haproxy.js";
import { renderIptablesRestore } from "../core/render/iptables.js";
import { renderNftScript } from "../core/render/nft.js";
import { renderSocatArgv } from "../core/render/socat.js";
import type { AgentStatus, DeviceStatus } from "../core/status.js";
import type { Config } from "../core/types.js";
import { createOwnAddresses } from "../effects/addresses.js";
import { createRunner } from "../effects/exec.js";
import { createIptablesFirewall } from "../effects/firewall/iptables.js";
import { createNftFirewall, nftWorks } from "../effects/firewall/nft.js";
import { haproxyFiles } from "../effects/listeners/haproxy.js";
import { createPidRecords } from "../effects/pid-records.js";
import { EXIT_UNAVAILABLE, requireTools } from "../effects/preflight.js";
import { describeDevicePlan, observePlan } from "./inspect.js";
import { readStatus, removeRuntimeFiles, runningAgentPid } from "./runtime.js";
import { portCount } from "../core/ports.js";
import { MAX_LISTENERS } from "../config/schema.js";

const out = (text: string) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);

/** Quotes an argv element only where a reader would otherwise misread it. */
const quote = (arg: string) =>
  /^[A-Za-z0-9_./:=,[\]-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;

export async function planCommand(config: Config, log: Logger): Promise<number> {
  const runner = createRunner(log, config.commandTimeoutMs);
  // The agent's own preflight: what it would refuse to start with, plan refuses to answer for (not a usage text).
  const backend = await requireTools(runner, config.firewall);
  if (backend === undefined) return EXIT_UNAVAILABLE;
  const plan = await observePlan(config, runner, log);
  const { desired } = plan;
  if (plan.waitingFor !== undefined) out(`# waiting for ${plan.waitingFor}: ${plan.detail ?? ""}`);
  if (plan.waitingFor === undefined && plan.detail === "disabled")
    out("# disabled by the operator (stateDir/state.json): nothing is served until enable");
  for (const d of plan.devices) out(describeDevicePlan(d));
  // What the port mappings in force spawn once every device serves (a range: one listener per port).
  const spawned = plan.devices.reduce((n, d) => n + (d.enabled ? portCount(d.ports) : 0), 0);
  out(
    `# the port mappings spawn ${spawned} listeners (at most ${MAX_LISTENERS}): ` +
      (config.listener.backend === "haproxy"
        ? "one haproxy process serves them"
        : `${spawned} socat processes`),
  );
  if (backend === "iptables" && desired.snat.length > 0) {
    out("# iptables-restore --noflush");
    out(renderIptablesRestore(desired.snat, 0));
  } else {
    out("# nft -f -");
    out(renderNftScript(desired.snat));
  }
  out(`# listeners (${desired.listeners.length}, ${config.listener.backend})`);
  if (config.listener.backend === "haproxy") {
    // What the HAProxy backend would load.
    const { statsSocket } = haproxyFiles(config.runtimeDir);
    if (desired.listeners.length > 0) out(renderHaproxyConfig({ specs: desired.listeners, statsSocket }));
  } else for (const spec of desired.listeners) out(renderSocatArgv(spec).map(quote).join(" "));
  return 0;
}

/** One device's part of `sixgate status`: its phase, address and where it came from, then its listeners. */
function formatDevice(s: AgentStatus, d: DeviceStatus): string[] {
  const phase = `${d.phase}${d.waitingFor ? ` (waiting for ${d.waitingFor})` : ""}${d.reason ? `: ${d.reason}` : ""}`;
  const address = `${d.address ?? "-"}${d.mac ? ` mac ${d.mac}` : ""}${d.source ? ` (from ${d.source})` : ""}`;
  const { ipv6 } = d;
  const own = `own ${ipv6.address ?? "-"}${ipv6.state === null ? "" : ` (${ipv6.state})`}`;
  return [
    `device ${d.name}: ${phase}`,
    `  address:   ${address}`,
    ...(d.hostname === null ? [] : [`  name:      ${d.hostname}`]),
    `  ipv6:      ${ipv6.mode === "own" ? own : `shared ${s.wan.address ?? "-"}`}`,
    `  listeners: ${d.listeners.length === 0 ? "none" : ""}`,
    ...d.listeners.map(
      (l) =>
        `    [${ipv6.address ?? s.wan.address ?? "?"}]:${l.listen} -> ${d.address ?? "?"}:${l.target}  ${l.state}  pid ${l.pid ?? "-"}  connections ${l.connections}/${l.maxChildren}  restarts ${l.restarts}${l.lastError ? `  (${l.lastError})` : ""}`,
    ),
  ];
}

function formatStatus(s: AgentStatus): string {
  const lines = [
    `phase:     ${s.phase}${s.waitingFor ? ` (waiting for ${s.waitingFor})` : ""}${s.reason ? `: ${s.reason}` : ""}`,
    `agent:     pid ${s.pid}, version ${s.version}, since ${s.startedAt}${s.enabled ? "" : ", DISABLED"}`,
    `wan:       ${s.wan.interface} ${s.wan.address ?? "-"}`,
    `lan:       ${s.lan.interface} ${s.lan.address ?? "-"}`,
    `firewall:  ${s.firewall.backend ?? "-"}${s.firewall.applied ? ", SNAT applied" : ", no rules"}`,
    ...s.devices.flatMap((d) => formatDevice(s, d)),
  ];
  // Older agents' status files have no dns field.
  if (s.dns) {
    lines.push(`dns:       ${s.dns.zone} via ${s.dns.server}`);
    for (const r of s.dns.records)
      lines.push(
        `  ${r.name}  ${r.address ?? "-"}  ${r.state}${r.latencyMs === null ? "" : `  ${r.latencyMs} ms`}${r.lastError ? `  (${r.lastError})` : ""}`,
      );
  }
  if (s.lastReconcile) {
    const r = s.lastReconcile;
    lines.push(
      `reconcile: ${r.at} ${r.durationMs} ms, ${r.steps} steps, ${r.ok ? "ok" : `FAILED: ${r.error ?? ""}`}`,
    );
  }
  return lines.join("\n");
}

export async function statusCommand(runtimeDir: string, json: boolean): Promise<number> {
  const pid = await runningAgentPid(runtimeDir);
  const status = pid === undefined ? undefined : await readStatus(runtimeDir);
  if (pid === undefined || status === undefined) {
    process.stderr.write(`sixgate: no agent is running for runtimeDir ${runtimeDir}\n`);
    return 1;
  }
  out(json ? JSON.stringify(status, null, 2) : formatStatus(status));
  return 0;
}

/**
 * Removes our rules, processes and runtime files. The retained MQTT messages go too (Home Assistant forgets the
 * device) unless keepMqtt: a service manager's after-stop cleanup keeps them, so a restart is not an uninstall.
 */
export async function cleanupCommand(config: Config, log: Logger, keepMqtt = false): Promise<number> {
  const pid = await runningAgentPid(config.runtimeDir);
  if (pid !== undefined) {
    process.stderr.write(`sixgate: the agent is running (pid ${pid}); stop it first, it cleans up on exit\n`);
    return 1;
  }
  const runner = createRunner(log, config.commandTimeoutMs);
  const stopped = await createPidRecords(config.runtimeDir, log).stopLeftovers();
  // Both backends: the config may have switched since the rules were made. Each removes only what is ours.
  if (await nftWorks(runner)) await createNftFirewall(runner).remove();
  const iptablesPresent =
    (await runner.run(["iptables-save", "-t", "nat"]).catch(() => undefined))?.exitCode === 0;
  if (iptablesPresent) await createIptablesFirewall(runner).remove();
  // The devices' own addresses: exactly those runtimeDir/addresses.json records (after the listeners that bound them).
  await createOwnAddresses({ runner, log, runtimeDir: config.runtimeDir }).removeAll();
  // Home Assistant forgets the device and its entities: nothing of ours stays retained on the broker.
  if (config.mqtt !== undefined && !keepMqtt) {
    const { cleanupMqtt } = await import("../mqtt/index.js");
    const devices = config.shorthand ? [] : config.devices.map((d) => d.name);
    await cleanupMqtt({ config: config.mqtt, log, devices });
  }
  await removeRuntimeFiles(config.runtimeDir);
  log.info({ listenersStopped: stopped }, "cleaned up");
  return 0;
}
