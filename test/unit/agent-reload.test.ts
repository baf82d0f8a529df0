// A reload (SIGHUP, MQTT reload-config) applies logLevel and commandTimeoutMs at once, and says which changed
// fields wait for a restart (stateDir, runtimeDir, firewall...), keeping their old values in use until then.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { Subject } from "rxjs";
import { Agent, type AgentDeps } from "../../src/agent.js";
import { RELOAD_BEHAVIOUR, ReloadRefused, reloadedConfig } from "../../src/config/reload.js";
import type { Config } from "../../src/config/schema.js";
import type { Event } from "../../src/core/types.js";
import { createRunner } from "../../src/effects/exec.js";
import { createStateStore } from "../../src/effects/state-store.js";
import { FakeAddresses, FakeFirewall, FakeListeners } from "../fakes/adapters.js";
import { makeConfig } from "./fixtures.js";

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/**
 * An agent whose config file is `file.next` at each reload (unless `deps` reads it otherwise), logging at the config's
 * level into `lines`.
 */
function reloadable(
  config: Config,
  store = createStateStore("/nonexistent", pino({ level: "silent" })),
  deps: Partial<Pick<AgentDeps, "loadConfig" | "persisted">> = {},
) {
  const lines: LogLine[] = [];
  const log = pino(
    { level: config.logLevel },
    { write: (l: string) => lines.push(JSON.parse(l) as LogLine) },
  );
  const file = { next: config };
  const agent = new Agent({
    config,
    log,
    firewall: new FakeFirewall(),
    listeners: new FakeListeners(),
    addresses: new FakeAddresses(),
    links: new Subject<Event>(),
    leases: () => new Subject<Event>(),
    store,
    loadConfig: () => Promise.resolve(file.next),
    version: "test",
    ...deps,
  });
  agent.start();
  // Wired as in src/cli/run.ts: the runner reads the timeout from the config in force at each command.
  const runner = createRunner(log, () => agent.config.commandTimeoutMs);
  return { agent, log, lines, file, runner };
}

test("a reload that changes logLevel to debug: debug lines appear from then on, also from child loggers", async () => {
  const { agent, log, lines, file, runner } = reloadable(makeConfig({ logLevel: "info" }));
  const mqttLog = log.child({ component: "mqtt" }); // created at start, as src/mqtt/session.ts does
  await runner.run(["true"]);
  mqttLog.debug("before");
  assert.deepEqual(
    lines.filter((l) => l.level === 20),
    [],
    "no debug lines at info",
  );

  file.next = makeConfig({ logLevel: "debug" });
  assert.deepEqual(await agent.reloadConfig(), { restartNeeded: [] });
  await runner.run(["true"]);
  mqttLog.debug("after");
  const debug = lines.filter((l) => l.level === 20);
  assert.ok(
    debug.some((l) => l.msg === "command" && JSON.stringify(l.argv) === '["true"]'),
    "the runner's debug line",
  );
  assert.ok(
    debug.some((l) => l.msg === "after" && l.component === "mqtt"),
    "a child logger's debug line",
  );
  assert.ok(!debug.some((l) => l.msg === "before"));
  await agent.stop();
});

test("a reload that lowers commandTimeoutMs: a command slower than the new timeout is killed", async () => {
  const { agent, file, runner } = reloadable(makeConfig({ commandTimeoutMs: 10000 }));
  file.next = makeConfig({ commandTimeoutMs: 300 });
  await agent.reloadConfig();
  const started = performance.now();
  const r = await runner.run(["sleep", "5"]);
  const ms = performance.now() - started;
  assert.equal(r.exitCode, 124, `exit ${r.exitCode}: ${r.stderr}`);
  assert.match(r.stderr, /timed out after 300 ms/);
  assert.ok(ms < 2000, `killed after ${Math.round(ms)} ms`);
  // An explicit timeout still wins over the default.
  assert.equal((await runner.run(["sleep", "0.5"], { timeoutMs: 3000 })).exitCode, 0);
  await agent.stop();
});

test("a reload that changes stateDir: a warning names it, the reply lists it, the old directory stays in use", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-reload-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [oldDir, newDir] = [join(dir, "old"), join(dir, "new")];
  const config = makeConfig({ stateDir: oldDir });
  const { agent, lines, file } = reloadable(config, createStateStore(oldDir, pino({ level: "silent" })));

  file.next = makeConfig({
    stateDir: newDir,
    runtimeDir: "/run/other",
    ports: [{ listen: 8080, target: 80 }],
  });
  assert.deepEqual(await agent.reloadConfig(), { restartNeeded: ["runtimeDir", "stateDir"] });
  const warning = lines.find((l) => l.level === 40);
  assert.match(warning?.msg ?? "", /runtimeDir, stateDir take effect at the next restart/);
  assert.deepEqual(warning?.restartNeeded, ["runtimeDir", "stateDir"]);
  // What can be applied is; the restart-only fields keep their values in force.
  assert.equal(agent.config.stateDir, oldDir);
  assert.equal(agent.config.runtimeDir, config.runtimeDir);
  assert.deepEqual(agent.status().ports, [{ listen: 8080, target: 80 }]);

  await agent.setEnabled(false);
  const saved = JSON.parse(await readFile(join(oldDir, "state.json"), "utf8")) as {
    devices: Record<string, { enabled: boolean }>;
  };
  assert.equal(saved.devices.device?.enabled, false);
  assert.ok(!existsSync(join(newDir, "state.json")), "nothing written to the new stateDir before a restart");
  await agent.stop();
});

test("reloadedConfig: only a changed restart-only field needs a restart, compared by value", () => {
  const current = makeConfig({ health: { schedule: "*/30 * * * * *" } });
  assert.deepEqual(
    reloadedConfig(current, makeConfig({ health: { schedule: "*/30 * * * * *" } })).restartNeeded,
    [],
  );
  const next = makeConfig({
    firewall: "iptables",
    debounceMs: 5,
    logLevel: "warn",
    listener: { maxChildren: 2 },
  });
  const { config, restartNeeded } = reloadedConfig(current, next);
  assert.deepEqual(restartNeeded, ["firewall", "debounceMs"]);
  assert.equal(config.firewall, current.firewall);
  assert.equal(config.debounceMs, current.debounceMs);
  assert.equal(config.logLevel, "warn");
  assert.equal(config.listener.maxChildren, 2);
  // Every restart-only field is kept; every applied one is taken from the file.
  for (const [field, behaviour] of Object.entries(RELOAD_BEHAVIOUR))
    assert.deepEqual(
      config[field as keyof Config],
      (behaviour === "restart" ? current : next)[field as keyof Config],
      field,
    );
});

test("reloadedConfig: listener.backend is read at start: a change waits for a restart, the rest of listener applies", () => {
  const current = makeConfig();
  const { config, restartNeeded } = reloadedConfig(
    current,
    makeConfig({ listener: { backend: "haproxy", maxChildren: 7 } }),
  );
  assert.deepEqual(restartNeeded, ["listener.backend"]);
  assert.equal(config.listener.backend, "socat");
  assert.equal(config.listener.maxChildren, 7);
});

test("reloads back to back (a SIGHUP storm, or SIGHUP beside MQTT reload-config): the file as it is last is what stays", async () => {
  // The file is A, a reload starts; the file becomes B, a second reload starts. Reading A takes longer (a dns: section
  // makes the load read the key file too): the first reload must not apply A after the second applied B.
  const a = makeConfig({ ports: [{ listen: 80, target: 80 }] });
  const b = makeConfig({ ports: [{ listen: 8080, target: 80 }] });
  let file = a;
  const { agent } = reloadable(b, undefined, {
    loadConfig: () => {
      const read = file;
      return new Promise((resolve) => setTimeout(() => resolve(read), read === a ? 50 : 0));
    },
  });
  const first = agent.reloadConfig();
  file = b;
  const second = agent.reloadConfig();
  await Promise.all([first, second]);
  assert.deepEqual(agent.config.devices[0]?.ports, [{ listen: 8080, target: 80 }], "the file's last content");
  await agent.stop();
});

test("reloadedConfig: a file checked with its own listener.backend is refused when the backend in use makes it wrong", () => {
  const own = (name: string, address: string, suffix: string) => ({
    name,
    address,
    ipv6: "own",
    ipv6Suffix: suffix,
    ports: [{ listen: 80, target: 80 }],
  });
  const devices = (listen: number) => [
    { name: "cam", address: "192.168.1.100", ports: [{ listen: 80, target: 80 }] },
    { name: "nas", address: "192.168.1.60", ports: [{ listen, target: 80 }] },
  ];
  const current = makeConfig({
    device: undefined,
    ports: undefined,
    listener: { backend: "haproxy" },
    devices: devices(81),
  });
  // Valid with socat (each device listens on its own address), not with the HAProxy in use until the restart.
  const next = makeConfig({
    device: undefined,
    ports: undefined,
    listener: { backend: "socat" },
    devices: [own("cam", "192.168.1.100", "::80"), own("nas", "192.168.1.60", "::81")],
  });
  assert.throws(
    () => reloadedConfig(current, next),
    (e: unknown) =>
      e instanceof ReloadRefused &&
      e.problems[0] === "devices.1.ports.0.listen: listen port 80 is also devices.0's (cam)" &&
      /listener\.backend in use until the next restart/.test(e.message),
  );
  // A backend change that conflicts with nothing reloads, the backend waiting for the restart.
  const other = makeConfig({ device: undefined, ports: undefined, devices: devices(82) });
  assert.deepEqual(reloadedConfig(current, other).restartNeeded, ["listener.backend"]);
});

test("a reload giving another device the listen port of a run-time mapping (set-ports) is refused; nothing applied", async () => {
  const devices = (nasListen: number) =>
    makeConfig({
      device: undefined,
      ports: undefined,
      devices: [
        { name: "cam", address: "192.168.1.100", ports: [{ listen: 80, target: 80 }] },
        { name: "nas", address: "192.168.1.60", ports: [{ listen: nasListen, target: 80 }] },
      ],
    });
  let file = devices(81);
  const { agent } = reloadable(file, undefined, {
    // cam's dashboard moved it to 8080.
    persisted: { cam: { enabled: true, ports: [{ listen: 8080, target: 80 }] } },
    loadConfig: () => Promise.resolve(file),
  });
  file = devices(8080);
  await assert.rejects(
    agent.reloadConfig(),
    (e: unknown) =>
      e instanceof ReloadRefused &&
      e.problems.some((p) => p.includes("listen port 8080")) &&
      /cam: 8080->80/.test(e.message),
  );
  assert.deepEqual(
    agent.config.devices.at(1)?.ports,
    [{ listen: 81, target: 80 }],
    "the old file stays in force",
  );
  file = devices(8081);
  await agent.reloadConfig();
  assert.deepEqual(agent.config.devices.at(1)?.ports, [{ listen: 8081, target: 80 }]);
  await agent.stop();
});
