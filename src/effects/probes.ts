// Health probes: can the gateway reach the device, and does a connection through our IPv6 listener get through?
// Plus the node-cron tick that runs them (and whatever else belongs on the health schedule).
import { connect, isIPv4, isIPv6, type Socket } from "node:net";
import { cronCalendar } from "../util/cron-calendar.js";
import type { Logger } from "pino";
import type { ProbeReport, ProbeResult } from "../control.js";
import { isInterfaceName } from "../core/addr.js";
import { renderProbeArgv, type DeviceLeg } from "../core/render/socat.js";
import type { AgentStatus } from "../core/status.js";
import { limitConcurrency } from "../util/limit.js";
import type { Runner } from "./exec.js";
import { expandPorts } from "../core/ports.js";

export interface ConnectOptions {
  host: string;
  port: number;
  /** Source address of the connection (the LAN address for the device hop). */
  localAddress?: string;
  /** Pin the connection to this interface (SO_BINDTODEVICE), as the listener's IPv4 leg is: the device hop. */
  device?: string;
  timeoutMs: number;
  /**
   * After the connect succeeds, how long to watch for the far end closing on us. A proxy accepts first and connects
   * to the device afterwards; when that fails it closes the client's connection, which this catches. Data from the
   * far end, or silence until the window ends, counts as success. 0 = connect only.
   */
  settleMs?: number;
}

export interface ConnectOutcome {
  ok: boolean;
  ms: number;
  error: string | null;
}

function describe(e: Error & { code?: string }): string {
  return e.code !== undefined ? `${e.code}: ${e.message}` : e.message;
}

/** One TCP connection attempt, bounded by timeoutMs overall; always resolves, never rejects. */
export function tcpConnect(options: ConnectOptions): Promise<ConnectOutcome> {
  if (options.device !== undefined)
    return Promise.resolve({ ok: false, ms: 0, error: "node cannot pin a connection to an interface" });
  const started = performance.now();
  const settleMs = options.settleMs ?? 0;
  return new Promise((resolve) => {
    let done = false;
    let socket: Socket | undefined;
    const finish = (error: string | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(settleTimer);
      socket?.destroy();
      resolve({ ok: error === null, ms: Math.round(performance.now() - started), error });
    };
    let settleTimer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => finish(`timed out after ${options.timeoutMs} ms`), options.timeoutMs);
    try {
      socket = connect({
        host: options.host,
        port: options.port,
        localAddress: options.localAddress,
        family: isIPv6(options.host) ? 6 : isIPv4(options.host) ? 4 : 0,
      });
    } catch (e) {
      finish(describe(e as Error));
      return;
    }
    const s = socket;
    s.on("error", (e: Error) => finish(describe(e)));
    s.once("connect", () => {
      if (settleMs <= 0) {
        finish(null);
        return;
      }
      // Connected: from here on silence is success, so the overall timeout gives way to the (clipped) window.
      clearTimeout(timer);
      const window = Math.max(0, Math.min(settleMs, options.timeoutMs - (performance.now() - started)));
      settleTimer = setTimeout(() => finish(null), window);
      const closed = () => finish("connection closed by the far end right after connect");
      s.once("data", () => finish(null));
      s.once("end", closed);
      s.once("close", closed);
    });
  });
}

// socat's error text ends in strerror(); named as node names errors, so one wording serves both connectors.
const ERRNO: Readonly<Record<string, string>> = {
  "Connection refused": "ECONNREFUSED",
  "No route to host": "EHOSTUNREACH",
  "Network is unreachable": "ENETUNREACH",
  "Cannot assign requested address": "EADDRNOTAVAIL",
  "No such device": "ENODEV",
  "Operation not permitted": "EPERM",
  "Permission denied": "EACCES",
};

/** socat's last error line as a probe error: "ECONNREFUSED: connect(...): Connection refused", or a timeout. */
export function describeSocatFailure(stderr: string, timeoutMs: number): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const error = lines.filter((l) => / E /.test(l) || /^timed out after/.test(l)).pop() ?? lines.pop();
  if (error === undefined) return "socat failed without a message";
  if (/timed out/i.test(error)) return `timed out after ${timeoutMs} ms`;
  const message = error.replace(/^.*? E /, "");
  const code = ERRNO[message.slice(message.lastIndexOf(": ") + 2)];
  return code === undefined ? message : `${code}: ${message}`;
}

/** The probe's IPv4 leg once every part is fit for socat's command line, or what is wrong. */
function probeLeg(o: ConnectOptions): DeviceLeg | string {
  const { host, port, localAddress, device } = o;
  if (!isIPv4(host) || !Number.isInteger(port) || port < 1 || port > 65535)
    return `not an IPv4 address and port: ${host}:${port}`;
  if (localAddress === undefined || !isIPv4(localAddress))
    return `not an IPv4 source address: ${String(localAddress)}`;
  if (device === undefined || !isInterfaceName(device)) return `not an interface name: ${String(device)}`;
  return {
    deviceAddress: host,
    target: port,
    lanAddress: localAddress,
    lanInterface: device,
    connectTimeoutSec: o.timeoutMs / 1000,
  };
}

/**
 * The device hop made by socat with the listener's own pinning (bind= and so-bindtodevice=): connect, send nothing,
 * close. What it reports is what the listener would meet, even where the routing table points elsewhere.
 */
export async function socatConnect(runner: Runner, options: ConnectOptions): Promise<ConnectOutcome> {
  const leg = probeLeg(options);
  if (typeof leg === "string") return { ok: false, ms: 0, error: leg };
  const started = performance.now();
  // socat's own connect-timeout ends it first; the runner's timeout only guards against a hung socat.
  const result = await runner.run(renderProbeArgv(leg), { timeoutMs: options.timeoutMs + 1000 });
  const ms = Math.round(performance.now() - started);
  if (result.exitCode === 0) return { ok: true, ms, error: null };
  return { ok: false, ms, error: describeSocatFailure(result.stderr, options.timeoutMs) };
}

/** Pinned probes (socat processes) running at once; the rest wait, so 64 ports never mean 64 processes. */
const MAX_PINNED_AT_ONCE = 4;

/** The connector the agent and doctor use: a pinned hop (options.device) through socat, the rest through node. */
export function createConnector(runner: Runner): Connector {
  const pinned = limitConcurrency(MAX_PINNED_AT_ONCE);
  return (options) =>
    options.device === undefined ? tcpConnect(options) : pinned(() => socatConnect(runner, options));
}

/** One device to probe. */
export interface ProbeDevice {
  name: string;
  /** The device's IPv4; null when not known yet. */
  deviceAddress: string | null;
  /** The gateway's LAN IPv4 for this device, the source of the device hop. */
  lanAddress: string | null;
  /** False while the operator disabled it: nothing listens, so only the device hop runs. */
  enabled: boolean;
  /** Its own listen address (`ipv6: own`; null while it has none usable); absent: the WAN address (spec.wanAddress). */
  listenAddress?: string | null;
  ports: readonly { listen: number; target: number }[];
}

export interface ProbeSpec {
  devices: readonly ProbeDevice[];
  /** The LAN interface the device hop is pinned to. */
  lanInterface: string;
  /** The WAN IPv6 the listeners are bound to. */
  wanAddress: string | null;
  /** Per connection; default 2000. */
  timeoutMs?: number;
  /** See ConnectOptions.settleMs; default 300 for the end-to-end hop. */
  settleMs?: number;
}

export type Connector = (options: ConnectOptions) => Promise<ConnectOutcome>;

/**
 * For each port of each device: TCP connect to device:target from the LAN address, and (while the device is
 * enabled) end to end through [wan]:listen from the gateway itself. All probes run in parallel, so the whole report takes at most about one timeout.
 * The device hop is pinned to the LAN interface, as the listener's own connection is.
 */
export async function runProbes(
  spec: ProbeSpec,
  connector: Connector,
  now: () => Date = () => new Date(),
): Promise<ProbeReport> {
  const at = now().toISOString();
  const timeoutMs = spec.timeoutMs ?? 2000;
  const settleMs = spec.settleMs ?? 300;
  // One device probe per device and target port, however many listeners lead to it.
  const deviceHops = new Map<string, Promise<ConnectOutcome>>();
  const deviceHop = (host: string, localAddress: string, target: number) => {
    const key = `${host}:${target}`;
    let hop = deviceHops.get(key);
    if (hop === undefined) {
      const options = { host, port: target, localAddress, device: spec.lanInterface, timeoutMs };
      hop = connector(options);
      deviceHops.set(key, hop);
    }
    return hop;
  };

  const probes: Promise<ProbeResult>[] = [];
  for (const d of spec.devices) {
    const result = (hop: ProbeResult["hop"], p: { listen: number; target: number }, o: ConnectOutcome) => ({
      device: d.name,
      hop,
      listen: p.listen,
      target: p.target,
      ...o,
    });
    const missing = (hop: ProbeResult["hop"], p: { listen: number; target: number }, error: string) =>
      Promise.resolve<ProbeResult>(result(hop, p, { ok: false, ms: 0, error }));
    for (const p of d.ports) {
      if (d.deviceAddress === null) probes.push(missing("device", p, "device address not known"));
      else if (d.lanAddress === null) probes.push(missing("device", p, "LAN address not known"));
      else
        probes.push(deviceHop(d.deviceAddress, d.lanAddress, p.target).then((o) => result("device", p, o)));
      if (!d.enabled) continue;
      const listenAddress = d.listenAddress === undefined ? spec.wanAddress : d.listenAddress;
      if (listenAddress === null)
        probes.push(
          missing(
            "end-to-end",
            p,
            d.listenAddress === undefined ? "no WAN IPv6 address" : "no own IPv6 address",
          ),
        );
      else {
        const options = { host: listenAddress, port: p.listen, timeoutMs, settleMs };
        probes.push(connector(options).then((o) => result("end-to-end", p, o)));
      }
    }
  }
  const results = await Promise.all(probes);
  return { at, ok: results.length > 0 && results.every((r) => r.ok), results };
}

/**
 * The probe function the agent takes (`AgentDeps.probe`): probes what the status says is in force, each device with
 * its ports; while a device is disabled there is nothing to probe end to end, so only its device hop runs.
 */
export function createProber(options: {
  connector: Connector;
  timeoutMs?: number;
  settleMs?: number;
}): (status: AgentStatus) => Promise<ProbeReport> {
  return async (status) => {
    return runProbes(
      {
        devices: status.devices.map((d) => ({
          name: d.name,
          deviceAddress: d.address,
          lanAddress: d.lanAddress,
          enabled: d.enabled,
          ports: expandPorts(d.ports),
          ...(d.ipv6.mode === "own" ? { listenAddress: d.ipv6.address } : {}),
        })),
        lanInterface: status.lan.interface,
        wanAddress: status.wan.address,
        timeoutMs: options.timeoutMs,
        settleMs: options.settleMs,
      },
      options.connector,
    );
  };
}

export interface Ticker {
  /** Stops the schedule; a tick in progress is not waited for. */
  stop(): void;
}

/** The longest single wait, so a step of the wall clock is noticed within a minute whatever the schedule. */
const MAX_WAIT_MS = 60_000;

/**
 * Runs onTick on a node-cron schedule (six fields, seconds first: `*\/30 * * * * *` is every 30 s). A tick that is
 * still running when the next is due is skipped, not stacked. Errors are logged, never thrown.
 *
 * node-cron parses the schedule, src/util/cron-calendar.ts gives its slots; the timer is ours. node-cron's own runner replays every slot that a step of the
 * wall clock skipped, and waits out a step back. A router without a real-time clock steps months ahead at its
 * first NTP sync: hundreds of thousands of slots replayed, a frozen event loop. Here every wake-up takes the next
 * slot from the clock as it is now: after a step ahead the tick runs once, after a step back it runs on time.
 */
export function scheduleTicks(
  expression: string,
  onTick: () => Promise<void> | void,
  log: Logger,
  name = "health",
): Ticker {
  const calendar = cronCalendar(expression);
  const nextSlot = () => calendar.next(Date.now());
  let due = nextSlot();
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let stopped = false;

  const run = () => {
    if (running) {
      log.debug({ tick: name }, "tick skipped: the last one is still running");
      return;
    }
    running = true;
    void (async () => {
      try {
        await onTick();
      } catch (e) {
        log.warn({ tick: name, error: String(e) }, "tick failed");
      } finally {
        running = false;
      }
    })();
  };
  const arm = () => {
    timer = setTimeout(wake, Math.min(MAX_WAIT_MS, Math.max(0, due - Date.now())));
  };
  const wake = () => {
    if (stopped) return;
    if (Date.now() >= due) run();
    // Also after a capped wait or a step back: the next slot from now.
    due = nextSlot();
    arm();
  };
  arm();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
