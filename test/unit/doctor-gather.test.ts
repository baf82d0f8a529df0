// gather + checks with a scripted runner and connector: what doctor reads, that it only ever reads, and how pid
// records tell our socat from anyone else's.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { pino } from "pino";
import { mqttOf } from "../../src/doctor/gather.js";
import { runDoctor } from "../../src/doctor/index.js";
import type { RunResult, Runner } from "../../src/effects/exec.js";
import type { ConnectOptions } from "../../src/effects/probes.js";
import { sampleStatus } from "../fakes/control.js";
import { makeConfig } from "./fixtures.js";

const quiet = pino({ level: "silent" });
const WAN = "2001:db8:1::1";

const ADDR = JSON.stringify([
  {
    ifname: "wan0",
    flags: ["UP", "LOWER_UP"],
    addr_info: [{ family: "inet6", local: WAN, prefixlen: 64, scope: "global" }],
  },
  {
    ifname: "lan0",
    flags: ["UP", "LOWER_UP"],
    addr_info: [{ family: "inet", local: "192.168.1.1", prefixlen: 24, scope: "global" }],
  },
]);

/** Commands doctor may run: all of them only read. */
const READ_ONLY = [
  /^ip -json addr show$/,
  /^ip -s -4 -json neigh show dev lan0$/,
  /^ip -json route (show|get \S+)$/,
  /^ss -H -l -t -n -p$/,
  /^ss -H -t -n state syn-sent$/,
  /^nft (-j list (ruleset|table ip sixgate)|list tables)$/,
  /^iptables-save -t nat$/,
  /^ip6tables-legacy-save -t filter$/,
  // The agent's preflight of its tools (src/effects/preflight.ts).
  /^ip -json addr show dev lo$/,
  /^ip monitor help$/,
  /^socat -V$/,
  /^nft -j list tables$/,
  /^iptables-(restore|save) --version$/,
  // The device hop: connect as the listener does, send nothing, close.
  /^socat -u OPEN:\/dev\/null TCP4:[\d.]+:\d+,bind=[\d.]+,so-bindtodevice=lan0,connect-timeout=[\d.]+$/,
];

function scriptedRunner(answers: Record<string, string | RunResult>): { runner: Runner; calls: string[] } {
  const calls: string[] = [];
  const runner: Runner = {
    run(argv) {
      const key = argv.join(" ");
      calls.push(key);
      const answer = answers[key];
      if (answer === undefined)
        return Promise.resolve({ exitCode: 1, stdout: "", stderr: `${key}: not scripted` });
      return Promise.resolve(
        typeof answer === "string" ? { exitCode: 0, stdout: answer, stderr: "" } : answer,
      );
    },
    spawn() {
      throw new Error("doctor never spawns long-running processes");
    },
  };
  return { runner, calls };
}

describe("doctor gather", () => {
  test("MQTT as the status file tells it: not configured, connected or not, or not said at all", () => {
    const withMqtt = (mqtt: unknown) => ({ ...sampleStatus(), mqtt }) as Parameters<typeof mqttOf>[0];
    assert.equal(mqttOf(withMqtt(null)), null);
    assert.deepEqual(mqttOf(withMqtt({ connected: false })), { connected: false, broker: undefined });
    assert.deepEqual(mqttOf(withMqtt({ connected: true, broker: "mqtt://b:1883" })), {
      connected: true,
      broker: "mqtt://b:1883",
    });
    assert.equal(mqttOf(sampleStatus()), undefined);
    assert.equal(mqttOf(withMqtt({ connected: "yes" })), undefined);
    assert.equal(mqttOf(undefined), undefined);
  });

  test("reads, never writes; a pid record whose command line still matches marks our socat", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "sixgate-doctor-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const runtimeDir = join(dir, "run");
    await mkdir(join(runtimeDir, "pids"), { recursive: true });
    // This test process stands in for the socat the (now dead) agent recorded for :80.
    const argv = (await readFile("/proc/self/cmdline", "utf8")).split("\0").slice(0, -1);
    await writeFile(
      join(runtimeDir, "pids", "listener-device-80.json"),
      JSON.stringify({ pid: process.pid, argv }),
    );
    // A record whose process is gone (or is someone else now) proves nothing.
    await writeFile(
      join(runtimeDir, "pids", "listener-device-2323.json"),
      JSON.stringify({ pid: process.pid, argv: ["socat", "x"] }),
    );
    const leases = join(dir, "dhcp.leases");
    await writeFile(leases, "0 02:00:00:00:01:00 192.168.1.100 dev *\n");
    const config = makeConfig({
      device: { mac: "02:00:00:00:01:00", leases },
      runtimeDir,
      stateDir: join(dir, "state"),
      firewall: "auto",
    });
    const { runner, calls } = scriptedRunner({
      "ip -json addr show": ADDR,
      "ip -json route show": '[{"dst":"192.168.1.0/24","dev":"lan0","prefsrc":"192.168.1.1"}]',
      "ip -json route get 192.168.1.100": '[{"dst":"192.168.1.100","dev":"lan0","prefsrc":"192.168.1.1"}]',
      "ss -H -l -t -n -p": [
        `LISTEN 0 32 [${WAN}]:80 [::]:* users:(("socat",pid=${process.pid},fd=5))`,
        `LISTEN 0 32 [${WAN}]:2323 [::]:* users:(("socat",pid=${process.pid},fd=6))`,
      ].join("\n"),
      // Real nft -j output of OpenWrt's fw4 (fixtures/nft/fw4.nft): no traffic rule lets the ports in.
      "nft -j list ruleset": await readFile(new URL("./fixtures/nft/fw4.json", import.meta.url), "utf8"),
      "nft list tables": "",
    });
    const probes: ConnectOptions[] = [];
    const report = await runDoctor(config, {
      runner,
      log: quiet,
      connect: (o) => {
        probes.push(o);
        return Promise.resolve({ ok: true, ms: 1, error: null });
      },
    });
    const status = Object.fromEntries(report.checks.map((c) => [c.id, c.status]));
    assert.equal(status["listener:80"], "warn", "ours, by record, but the agent that made it is gone");
    assert.match(report.checks.find((c) => c.id === "listener:80")?.detail ?? "", /left by an agent/);
    assert.equal(status["listener:2323"], "fail", "a socat that no record vouches for is someone else's");
    assert.equal(status.snat, "fail", "nft works, table ip sixgate is missing");
    assert.match(
      report.checks.find((c) => c.id === "host-firewall")?.detail ?? "",
      /tcp\/80, 2323: rejected by "meta l4proto tcp reject with tcp reset" in inet fw4 handle_reject/,
    );
    assert.equal(status.agent, "fail");
    assert.equal(status.device, "ok");
    assert.equal(report.verdict, "fail");

    for (const call of calls)
      assert.ok(
        READ_ONLY.some((re) => re.test(call)),
        `doctor ran "${call}"`,
      );
    // Device hop from the LAN address, end to end to the WAN address with a settle window.
    assert.deepEqual(
      probes.map((p) => [p.host, p.port, p.localAddress ?? null, p.device ?? null, p.settleMs ?? 0]).sort(),
      [
        ["192.168.1.100", 23, "192.168.1.1", "lan0", 0],
        ["192.168.1.100", 80, "192.168.1.1", "lan0", 0],
        [WAN, 2323, null, null, 500],
        [WAN, 80, null, null, 500],
      ].sort(),
    );
  });

  test("by default the device hop is socat pinned to the LAN interface, through the runner", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "sixgate-doctor-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const config = makeConfig({
      device: { address: "192.168.1.100" },
      runtimeDir: join(dir, "run"),
      stateDir: join(dir, "state"),
    });
    // No WAN address: nothing is probed end to end, so no connection leaves this test.
    const lanOnly = JSON.stringify([(JSON.parse(ADDR) as unknown[])[1]]);
    const socat = (port: number) =>
      `socat -u OPEN:/dev/null TCP4:192.168.1.100:${port},bind=192.168.1.1,so-bindtodevice=lan0,connect-timeout=2`;
    const { runner, calls } = scriptedRunner({
      "ip -json addr show": lanOnly,
      [socat(80)]: "",
      [socat(23)]: {
        exitCode: 1,
        stdout: "",
        stderr: "2026/11/26 17:47:13 socat[1] E connect(6, AF=2 192.168.1.100:23, 16): Connection refused\n",
      },
    });
    const report = await runDoctor(config, { runner, log: quiet });
    const byId = new Map(report.checks.map((c) => [c.id, c]));
    assert.equal(byId.get("device-port:80")?.status, "ok");
    assert.equal(byId.get("device-port:23")?.status, "fail");
    assert.match(
      byId.get("device-port:23")?.detail ?? "",
      /on lan0: refused: nothing listens on 192\.168\.1\.100 port 23/,
    );
    assert.deepEqual(calls.filter((c) => c.startsWith("socat -u")).sort(), [socat(23), socat(80)]);
    for (const call of calls)
      assert.ok(
        READ_ONLY.some((re) => re.test(call)),
        `doctor ran "${call}"`,
      );
  });

  test("every command failing still gives a report, with the errors in it", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "sixgate-doctor-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const config = makeConfig({
      runtimeDir: join(dir, "run"),
      stateDir: join(dir, "state"),
      firewall: "iptables",
    });
    const { runner } = scriptedRunner({});
    const report = await runDoctor(config, {
      runner,
      log: quiet,
      connect: () => Promise.resolve({ ok: false, ms: 0, error: "unreachable" }),
    });
    const byId = new Map(report.checks.map((c) => [c.id, c]));
    assert.match(byId.get("wan-link")?.detail ?? "", /cannot read the interfaces: ip failed/);
    assert.equal(byId.get("host-firewall")?.status, "warn");
    assert.equal(report.verdict, "fail");
  });
});
