// Reads everything the checks need, once, through the one command runner. Read-only: doctor runs `ip`, `ss`,
// `nft -j list`, `iptables-save` and TCP connects, and never changes a rule, an address or a process.
import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import * as z from "zod";
import { leaseFiles } from "../config/schema.js";
import { reduce } from "../core/facts.js";
import { plan as makePlan } from "../core/plan.js";
import { IPT_CHAIN } from "../core/render/iptables.js";
import { NFT_TABLE } from "../core/render/nft.js";
import type { AgentStatus } from "../core/status.js";
import type { Config, DevicePlan, SnatRule, State } from "../core/types.js";
import { runChecked, type Runner } from "../effects/exec.js";
import { createIptablesFirewall } from "../effects/firewall/iptables.js";
import { createNftFirewall, nftObjects } from "../effects/firewall/nft.js";
import { createConnector, type Connector } from "../effects/probes.js";
import { createPidRecords, listenerRecordName } from "../effects/pid-records.js";
import { checkTools } from "../effects/preflight.js";
import { loadOperatorChoices } from "../effects/state-store.js";
import { readLeases } from "../sources/leases.js";
import { readNeighbours } from "../sources/neighbours.js";
import { seededFacts } from "../cli/inspect.js";
import { readAddressRecord } from "../effects/addresses.js";
import { readStatus, runningAgentPid } from "../cli/runtime.js";
import type {
  AgentView,
  DeviceView,
  DnsNameView,
  DoctorContext,
  MqttView,
  ProbeView,
  SnatView,
} from "./context.js";
import { parseLinkDetails, toLinkInfo } from "../sources/ip-addr.js";
import { describeRule, nftChains } from "./parse/nft-ruleset.js";
import { parseRouteGet, parseRoutes } from "./parse/route.js";
import { parseSsListening, parseSynSent, stuckListenerConnects } from "./parse/ss.js";
import { listenAddressOf } from "./checks/own-address.js";
import { observe } from "./types.js";
import { parseDnsServer } from "../config/dns.js";
import { deviceHostname, wantedRecords } from "../core/dns.js";
import { queryAaaa } from "../dns/query.js";
import { expandPorts } from "../core/ports.js";

export interface GatherOptions {
  runner: Runner;
  log: Logger;
  /** TCP connect; a fake in tests. */
  connect?: Connector;
  /** Per probe; default 2000 ms. */
  probeTimeoutMs?: number;
  /** How long an end-to-end connection must stay open to count as passing; default 500 ms. */
  settleMs?: number;
}

// The status file's MQTT part (null = not configured); anything else there is ignored.
const mqttSchema = z.object({
  mqtt: z.object({ connected: z.boolean(), broker: z.string().nullish() }).nullable(),
});

/** null: the agent says MQTT is not configured; undefined: its status does not say. */
export function mqttOf(status: AgentStatus | undefined): MqttView | null | undefined {
  const parsed = mqttSchema.safeParse(status);
  if (!parsed.success) return undefined;
  const m = parsed.data.mqtt;
  if (m === null) return null;
  return { connected: m.connected, broker: m.broker ?? undefined };
}

async function agentView(runtimeDir: string): Promise<AgentView> {
  const pid = await runningAgentPid(runtimeDir);
  const status = pid === undefined ? undefined : await readStatus(runtimeDir);
  return { pid, status, mqtt: mqttOf(status) };
}

/**
 * Our socat for each listen port: the pid in the agent's status, and the pid the agent recorded when it spawned it,
 * trusted only while /proc still shows the recorded command line.
 */
async function ourListenerPids(
  runtimeDir: string,
  status: AgentStatus | undefined,
  device: string,
  listens: readonly number[],
  log: Logger,
): Promise<Map<number, number[]>> {
  const records = createPidRecords(runtimeDir, log);
  const out = new Map<number, number[]>();
  for (const listen of listens) {
    const pids = new Set<number>();
    const fromStatus = status?.listeners.find((l) => l.device === device && l.listen === listen)?.pid;
    if (fromStatus !== undefined && fromStatus !== null) pids.add(fromStatus);
    const recorded = await records.live(listenerRecordName({ device, listen }));
    if (recorded !== undefined) pids.add(recorded);
    out.set(listen, [...pids]);
  }
  return out;
}

/** Reverse-path filtering on an interface is the stricter of `all` and the interface's own (0 off, 1 strict, 2 loose). */
async function rpFilter(iface: string): Promise<number | undefined> {
  const read = async (name: string) => {
    try {
      return Number((await readFile(`/proc/sys/net/ipv4/conf/${name}/rp_filter`, "utf8")).trim());
    } catch {
      return undefined;
    }
  };
  const [all, own] = await Promise.all([read("all"), read(iface)]);
  if (all === undefined && own === undefined) return undefined;
  return Math.max(all ?? 0, own ?? 0);
}

/** `usable`: the backend the tools preflight found (what `sixgate run` would use), undefined when none works. */
async function readSnat(
  runner: Runner,
  config: Config,
  status: AgentStatus | undefined,
  expected: readonly SnatRule[],
  usable: "nft" | "iptables" | undefined,
): Promise<SnatView> {
  const backend = status?.firewall.backend ?? usable ?? (config.firewall === "iptables" ? "iptables" : "nft");
  if (backend === "nft") {
    const matches = await createNftFirewall(runner).matches(expected);
    const listed = await runner.run(["nft", "-j", "list", "table", "ip", NFT_TABLE]);
    const found =
      listed.exitCode !== 0
        ? []
        : nftChains(nftObjects(listed.stdout)).flatMap((c) => c.rules.map(describeRule));
    return { backend, matches, found, present: listed.exitCode === 0 };
  }
  const matches = await createIptablesFirewall(runner).matches(expected);
  const saved = (await runChecked(runner, ["iptables-save", "-t", "nat"])).stdout.split("\n");
  return {
    backend,
    matches,
    found: saved.filter((l) => l.startsWith(`-A ${IPT_CHAIN} `)),
    present: saved.some((l) => l.startsWith(`:${IPT_CHAIN} `)),
  };
}

/**
 * How many rules ip6tables-legacy holds in its filter table. The kernel lists the legacy (x_tables) tables of this
 * network namespace in /proc/net/ip6_tables_names (empty with iptables-nft); only then is ip6tables-legacy-save run.
 */
async function ip6tablesLegacyRules(runner: Runner): Promise<number> {
  let names: string;
  try {
    names = await readFile("/proc/net/ip6_tables_names", "utf8");
  } catch {
    return 0; // no ip6_tables module: nothing legacy can hold
  }
  if (!names.split("\n").includes("filter")) return 0;
  const saved = await runChecked(runner, ["ip6tables-legacy-save", "-t", "filter"]);
  return saved.stdout.split("\n").filter((l) => l.startsWith("-A ")).length;
}

export async function gather(config: Config, options: GatherOptions): Promise<DoctorContext> {
  const { runner, log } = options;
  const settleMs = options.settleMs ?? 500;
  const stdout = async (argv: readonly string[]) => (await runChecked(runner, argv)).stdout;

  const tools = checkTools(runner, config.firewall);
  const [addrText, agent, persisted, recorded, leases, neighbours, sockets, nft, routes, legacy] =
    await Promise.all([
      observe(() => stdout(["ip", "-json", "addr", "show"])),
      agentView(config.runtimeDir),
      loadOperatorChoices(config, log),
      readAddressRecord(config.runtimeDir),
      readLeases(leaseFiles(config), log),
      config.devices.some((d) => d.mac !== undefined && d.address === undefined)
        ? readNeighbours(runner, config.lan.interface, log)
        : undefined,
      observe(async () => parseSsListening(await stdout(["ss", "-H", "-l", "-t", "-n", "-p"]))),
      observe(async () => nftChains(nftObjects(await stdout(["nft", "-j", "list", "ruleset"])))),
      observe(async () => parseRoutes(await stdout(["ip", "-json", "route", "show"]))),
      observe(() => ip6tablesLegacyRules(runner)),
    ]);

  const links: DoctorContext["links"] = addrText.ok
    ? await observe(() => Promise.resolve(parseLinkDetails(addrText.value)))
    : addrText;
  let state: State = { config, facts: seededFacts(agent.status, persisted, recorded) };
  state = reduce(state, {
    type: "links",
    links: links.ok ? toLinkInfo(links.value) : [],
  });
  state = reduce(state, leases);
  if (neighbours !== undefined) state = reduce(state, neighbours);
  const facts = state.facts;
  const plan = makePlan(facts, config);
  if (plan.devices.length === 0) throw new Error("the config lists no device");
  const expected = plan.desired.snat;
  const anyEnabled = plan.devices.some((d) => d.enabled);
  const connect = options.connect ?? createConnector(runner);
  const probe = (o: Parameters<Connector>[0]): Promise<ProbeView> =>
    connect(o).then((r) => ({ ok: r.ok, ms: r.ms, error: r.error }));
  const env: DeviceEnv = {
    config,
    runner,
    log,
    probe,
    timeoutMs: options.probeTimeoutMs ?? 2000,
    settleMs,
    agent: agent.status,
    wanAddress: facts.wanAddress,
  };
  const observeOne = (device: DevicePlan) => observeDevice(device, env);
  const [rp, snat, devices, dns] = await Promise.all([
    rpFilter(config.lan.interface),
    expected.length === 0 && anyEnabled
      ? Promise.resolve(undefined)
      : observe(async () => readSnat(runner, config, agent.status, expected, (await tools).backend)),
    Promise.all(plan.devices.map(observeOne)),
    askDns(runner, config, agent.status, facts.wanAddress),
  ]);
  return {
    config,
    tools: await tools,
    links,
    facts,
    plan,
    agent,
    sockets,
    nft,
    ip6tablesLegacyRules: legacy,
    routes,
    rpFilter: rp,
    snat,
    devices,
    settleMs,
    dns,
  };
}

/**
 * Each name the agent keeps, with the address it should have now and the server's answer. The names and the devices'
 * listen addresses are the running agent's (its status), the WAN address this moment's; without an agent, the
 * config's hostnames at the WAN address (a device with its own address: none known, skipped).
 */
async function askDns(
  runner: Runner,
  config: Config,
  status: AgentStatus | undefined,
  wanAddress: string | undefined,
): Promise<DnsNameView[]> {
  const { dns } = config;
  const server = dns === undefined ? undefined : parseDnsServer(dns.server);
  if (dns === undefined || server === undefined) return [];
  // Without an agent an own address is not known here: its name is skipped rather than compared with the WAN's.
  const devices =
    status?.devices ??
    config.devices.map((d) => ({
      name: d.name,
      hostname: deviceHostname(d.hostname, dns.zone),
      ...(d.ipv6 === "own" ? { ipv6: { mode: "own" as const, address: null, state: null } } : {}),
    }));
  const wanted = wantedRecords({ wan: { address: wanAddress ?? null }, devices }, dns);
  return Promise.all(
    wanted.map(async (r) => ({
      name: r.name,
      expected: r.address,
      answer: r.address === null ? undefined : await observe(() => queryAaaa(runner, server, r.name)),
      agent: status?.dns?.records.find((a) => a.name === r.name),
    })),
  );
}

/** What every device's observation shares. */
interface DeviceEnv {
  config: Config;
  runner: Runner;
  log: Logger;
  probe: (o: Parameters<Connector>[0]) => Promise<ProbeView>;
  /** Per probe. */
  timeoutMs: number;
  /** How long an end-to-end connection must stay open. */
  settleMs: number;
  /** The running agent's status, if any. */
  agent: AgentStatus | undefined;
  wanAddress: string | undefined;
}

/**
 * One device's own observations: its route, its hop (device:target from its LAN address, per target), end to end
 * through each of its listen ports, the SYNs its listeners left unanswered, and our socat pids for its listeners.
 */
async function observeDevice(dp: DevicePlan, env: DeviceEnv): Promise<DeviceView> {
  const { config, runner, probe, timeoutMs, settleMs } = env;
  const wanAddress = listenAddressOf(config, dp, env.wanAddress);
  const stdout = async (argv: readonly string[]) => (await runChecked(runner, argv)).stdout;
  const { enabled, lanAddress } = dp;
  const ports = expandPorts(dp.ports);
  const device = dp.device.address;
  const targets = [...new Set(ports.map((p) => p.target))];
  const deviceProbes = Promise.all(
    targets.map(async (target) =>
      device === undefined || lanAddress === undefined
        ? undefined
        : ([
            target,
            await probe({
              host: device,
              port: target,
              localAddress: lanAddress,
              device: config.lan.interface,
              timeoutMs,
            }),
          ] as const),
    ),
  );
  const endToEnd = Promise.all(
    ports.map(async (p) =>
      wanAddress === undefined || !enabled
        ? undefined
        : ([p.listen, await probe({ host: wanAddress, port: p.listen, timeoutMs, settleMs })] as const),
    ),
  );
  const [route, ours, deviceResults, e2eResults] = await Promise.all([
    device === undefined
      ? Promise.resolve(undefined)
      : observe(async () => parseRouteGet(await stdout(["ip", "-json", "route", "get", device]))),
    ourListenerPids(
      config.runtimeDir,
      env.agent,
      dp.name,
      ports.map((p) => p.listen),
      env.log,
    ),
    deviceProbes,
    endToEnd,
  ]);
  const defined = <T>(x: T | undefined): x is T => x !== undefined;
  const e2e = new Map(e2eResults.filter(defined));
  // socat holds the client while its own connect to the device waits (connect-timeout), longer than our settle
  // window: a SYN still unanswered right now is what tells "accepted and connected" from "accepted and stuck".
  let unanswered = new Set<number>();
  if (device !== undefined && lanAddress !== undefined && [...e2e.values()].some((p) => p.ok)) {
    const pending = await observe(async () =>
      parseSynSent(await stdout(["ss", "-H", "-t", "-n", "state", "syn-sent"])),
    );
    if (pending.ok)
      unanswered = stuckListenerConnects(
        pending.value,
        { address: lanAddress, device: config.lan.interface },
        device,
      );
  }
  return {
    plan: dp,
    ourPids: ours,
    routeToDevice: route,
    deviceProbes: new Map(deviceResults.filter(defined)),
    endToEnd: e2e,
    unansweredTargets: unanswered,
  };
}
