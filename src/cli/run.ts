// `sixgate run`: the composition root. Builds the adapters, wires the agent, handles signals.
import type { Logger } from "pino";
import { Agent } from "../agent.js";
import { loadConfig, ConfigError } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { longestTickGapSec } from "../config/health.js";
import { ReloadRefused } from "../config/reload.js";
import { catchSignals, type SignalInbox } from "./signals.js";
import { createRunner } from "../effects/exec.js";
import { EXIT_UNAVAILABLE, requireTools } from "../effects/preflight.js";
import { createOwnAddresses } from "../effects/addresses.js";
import { selectFirewall } from "../effects/firewall/select.js";
import { createHaproxyListeners } from "../effects/listeners/haproxy.js";
import { createSocatListeners } from "../effects/listeners/socat.js";
import { createPidRecords, type PidRecords } from "../effects/pid-records.js";
import { createStateStore, loadOperatorChoices } from "../effects/state-store.js";
import { Subject, filter, merge, share, type Observable } from "rxjs";
import type { ProbeReport } from "../control.js";
import { createConnector, createProber, scheduleTicks } from "../effects/probes.js";
import type { MqttHandle } from "../mqtt/index.js";
import { hotplugMessages, notifySocketPath } from "../sources/hotplug.js";
import { leaseEvents } from "../sources/leases.js";
import { neighbourEvents } from "../sources/neighbours.js";
import { netlinkEvents } from "../sources/netlink.js";
import { nftTableChanges } from "../sources/nft-monitor.js";
import { createProblems, type Problems } from "../util/problems.js";
import { VERSION } from "../version.js";
import { createOwnedNames } from "../dns/owned-names.js";
import { startIdleGc } from "../util/idle-gc.js";
import { createDnsUpdater } from "../dns/updater.js";
import { createStatusWriter } from "./status-writer.js";
import { ensureRuntimeDir, removeRuntimeFiles, runningAgentPid, writePidFile } from "./runtime.js";

/** How long a stop may take before we exit anyway (systemd's and the tests' limit is 5 s). */
const STOP_DEADLINE_MS = 4500;

/** The same records; a failed write is also a problem in the status until a later one succeeds. */
function reportingFailures(records: PidRecords, problems: Problems, runtimeDir: string): PidRecords {
  return {
    ...records,
    async record(name, pid, argv, options) {
      try {
        await records.record(name, pid, argv, options);
        problems.clear("pid-records");
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e);
        problems.set("pid-records", `cannot record the pid of ${name} under ${runtimeDir}: ${error}`);
        throw e;
      }
    },
  };
}

type MqttModule = typeof import("../mqtt/index.js");

/**
 * The MQTT code (the client library and its streams) is loaded only when mqtt: is configured, before the agent
 * starts (loadMqtt): without it the idle agent is lighter (bench/idle-memory.ts).
 */
const loadMqtt = (config: Config): Promise<MqttModule> | undefined =>
  config.mqtt === undefined ? undefined : import("../mqtt/index.js");

function startMqttIfConfigured(
  mqttModule: MqttModule | undefined,
  config: Config,
  agent: Agent,
  probeReports: Observable<ProbeReport>,
  log: Logger,
): MqttHandle | undefined {
  if (config.mqtt === undefined || mqttModule === undefined) return undefined;
  const { MqttSetupError, startMqtt } = mqttModule;
  try {
    return startMqtt({
      config: config.mqtt,
      control: agent,
      log,
      version: VERSION,
      probeReports,
      tickIntervalSec: longestTickGapSec(config.health.schedule),
    });
  } catch (e) {
    // An unreadable password or TLS file must not stop the proxy: run without MQTT and say why.
    if (!(e instanceof MqttSetupError)) throw e;
    log.error({ error: e.message }, "MQTT not started; the proxy runs without it");
    return undefined;
  }
}

/** signals: caught since the process began (main.ts); caught here when not given (tests). */
export async function runCommand(
  configFile: string,
  config: Config,
  log: Logger,
  signals: SignalInbox = catchSignals(),
): Promise<number> {
  // The runner reads commandTimeoutMs from the config in force at each command (a reload changes it): the file's
  // until the agent exists, the agent's after.
  let inForce: { readonly config: Config } = { config };
  const runner = createRunner(log, () => inForce.config.commandTimeoutMs);
  // Before anything is touched: a busybox ip or a missing socat would otherwise leave an agent that never serves.
  const backend = await requireTools(runner, config.firewall, config.listener.backend);
  if (backend === undefined) return EXIT_UNAVAILABLE;
  await ensureRuntimeDir(config.runtimeDir);
  const other = await runningAgentPid(config.runtimeDir);
  if (other !== undefined) {
    log.error(
      { pid: other, runtimeDir: config.runtimeDir },
      "another sixgate agent is running with this runtimeDir",
    );
    return 1;
  }
  const problems = createProblems(log);
  // Without a pid file (a full runtimeDir) the agent still serves: `status` and a second agent cannot find it.
  await writePidFile(config.runtimeDir).catch((e: unknown) => {
    problems.set("pid-file", `cannot write the pid file under ${config.runtimeDir}: ${String(e)}`);
  });

  const firewall = selectFirewall(backend, runner);
  const records = reportingFailures(createPidRecords(config.runtimeDir, log), problems, config.runtimeDir);
  const leftovers = await records.stopLeftovers();
  if (leftovers > 0) log.info({ leftovers }, "stopped processes left by an earlier run");
  const listeners =
    config.listener.backend === "haproxy"
      ? createHaproxyListeners({ runner, log, records, runtimeDir: config.runtimeDir })
      : createSocatListeners({ runner, log, records });

  const store = createStateStore(config.stateDir, log);
  // One socket server shared by both sources (share): hook messages are hints to look again.
  const hotplug = hotplugMessages(notifySocketPath(config.runtimeDir), log).pipe(share());
  // The health tick's "look again": one more trigger of both sources, next to the hooks' hints.
  const lookAgain = new Subject<void>();
  const mqttModule = await loadMqtt(config);
  // DNS updates run beside the pipeline, fed by the agent's status (started below): never in a reconcile's way.
  const dns =
    config.dns === undefined
      ? undefined
      : createDnsUpdater({
          runner,
          log: log.child({ component: "dns" }),
          config: config.dns,
          owned: createOwnedNames(config.stateDir, log),
        });
  const agent = new Agent({
    config,
    log,
    firewall,
    listeners,
    addresses: createOwnAddresses({ runner, log, runtimeDir: config.runtimeDir }),
    links: netlinkEvents(
      runner,
      log,
      records,
      merge(hotplug.pipe(filter((m) => m.kind === "iface")), lookAgain),
      problems,
    ),
    leases: (files) =>
      leaseEvents(files, log, merge(hotplug.pipe(filter((m) => m.kind !== "iface")), lookAgain)),
    neighbours: (lan, macs) =>
      neighbourEvents(
        runner,
        lan,
        macs,
        log,
        records,
        merge(hotplug.pipe(filter((m) => m.kind === "neigh")), lookAgain),
        problems,
      ),
    lookAgain: () => lookAgain.next(),
    // nft reports changes to our table (a `flush ruleset`): repaired at once. iptables: the health tick checks.
    firewallChanges: firewall.backend === "nft" ? nftTableChanges(runner, log, records, problems) : undefined,
    problems,
    dns,
    persisted: await loadOperatorChoices(config, log, store),
    store,
    loadConfig: () => loadConfig(configFile),
    probe: createProber({ connector: createConnector(runner), timeoutMs: config.health.timeoutMs }),
    version: VERSION,
  });
  inForce = agent;
  log.info({ version: VERSION, config: configFile, firewall: firewall.backend }, "starting");
  agent.start();
  dns?.start(agent.statusChanges);

  // The health tick: repair drift, probe every hop; MQTT publishes each report.
  const probeReports = new Subject<ProbeReport>();
  const ticker = scheduleTicks(
    config.health.schedule,
    async () => probeReports.next(await agent.healthTick()),
    log,
  );
  const mqtt = startMqttIfConfigured(mqttModule, config, agent, probeReports, log);
  const stopIdleGc = startIdleGc();

  // The status file adds what only the composition root knows: the MQTT session's view of itself.
  const status = createStatusWriter(config.runtimeDir, problems, log);
  const persist = () => status.push({ ...agent.status(), mqtt: mqtt?.view() ?? null });
  agent.statusChanges.subscribe(persist);
  probeReports.subscribe(persist);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, "stopping");
      const deadline = setTimeout(() => {
        log.error("stop took too long; exiting anyway");
        resolve(1);
      }, STOP_DEADLINE_MS);
      ticker.stop();
      stopIdleGc();
      // The records stay as they are: a stopped agent leaves its names pointing at the last address.
      dns?.stop();
      // Dashboards hear "offline" while the listeners are being stopped, not after.
      void Promise.all([mqtt?.stop(), agent.stop()])
        .then(() => status.close())
        .then(() => removeRuntimeFiles(config.runtimeDir))
        .then(
          () => {
            clearTimeout(deadline);
            resolve(0);
          },
          (e: unknown) => {
            log.error({ error: String(e) }, "stop failed");
            clearTimeout(deadline);
            resolve(1);
          },
        );
    };
    signals.attach((signal) => {
      if (signal !== "SIGHUP") {
        stop(signal);
        return;
      }
      agent.reloadConfig().catch((e: unknown) => {
        // A bad file changes nothing: the agent keeps serving with what it has.
        log.error(
          { error: e instanceof ConfigError || e instanceof ReloadRefused ? e.problems : String(e) },
          "reload refused; keeping the old configuration",
        );
      });
    });
  });
}
