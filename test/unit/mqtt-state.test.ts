// The state payload built from AgentStatus, its change key, and the redaction of secrets in logs.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import { pino, type Logger } from "pino";
import { mqttRedactPaths, scrubSecrets } from "../../src/mqtt/redact.js";
import { mergeProbe } from "../../src/mqtt/state-publisher.js";
import { buildState, reachableFrom, stateKey } from "../../src/mqtt/state.js";
import { sampleReport, sampleStatus } from "../fakes/control.js";

const NOW = Date.parse("2026-01-01T01:00:00.000Z");

describe("mqtt state payload", () => {
  test("carries what the issue lists, and nothing of the config", () => {
    const state = buildState(sampleStatus(), sampleReport, "1.2.3", NOW);
    assert.deepEqual(Object.keys(state).sort(), [
      "device",
      "devices",
      "dns",
      "enabled",
      "firewall",
      "lan",
      "lastReconcile",
      "listeners",
      "listenersTotal",
      "listenersUp",
      "phase",
      "pid",
      "ports",
      "portsSource",
      "probes",
      "reason",
      "startedAt",
      "uptimeSec",
      "version",
      "waitingFor",
      "wan",
    ]);
    assert.equal(state.uptimeSec, 3600);
    assert.equal(state.version, "1.2.3");
    assert.equal(state.device.reachable, true);
    assert.deepEqual(state.listeners[1], {
      listen: 2323,
      target: 23,
      state: "running",
      pid: 1002,
      restarts: 1,
      lastError: null,
      connections: 0,
      maxChildren: 64,
      connectionErrors: 0,
    });
    assert.deepEqual(state.lastReconcile, sampleStatus().lastReconcile);
  });

  test("each device's current IPv6 address, DNS name and its record's update state", () => {
    const status = sampleStatus();
    const [device] = status.devices;
    assert.ok(device);
    const named = buildState(
      {
        ...status,
        devices: [{ ...device, hostname: "cam.example.test" }],
        dns: {
          server: "2001:db8::53",
          zone: "example.test",
          records: [
            {
              name: "cam.example.test",
              address: "2001:db8::1",
              state: "failed",
              lastError: "nsupdate failed: update failed: REFUSED",
              updatedAt: null,
              latencyMs: null,
            },
          ],
        },
      },
      null,
      "1",
      NOW,
    );
    assert.deepEqual(named.devices.device, {
      ...named.devices.device,
      ipv6Address: "2001:db8::1",
      hostname: "cam.example.test",
      dns: {
        state: "failed",
        lastError: "nsupdate failed: update failed: REFUSED",
        updatedAt: null,
        latencyMs: null,
      },
    });
    assert.equal(named.dns?.server, "2001:db8::53");
    // Without a hostname or dns: the address is still there (users without a DNS server follow it on MQTT).
    const plain = buildState(status, null, "1", NOW).devices.device;
    assert.deepEqual([plain?.ipv6Address, plain?.hostname, plain?.dns], ["2001:db8::1", null, null]);
    // A shared device's ipv6.address is the WAN address (agent.ts): both go together.
    const devices = status.devices.map((d) => ({ ...d, ipv6: { ...d.ipv6, address: null } }));
    const noWan = buildState({ ...status, devices, wan: { ...status.wan, address: null } }, null, "1", NOW);
    assert.equal(noWan.devices.device?.ipv6Address, null);
  });

  test("listeners up counts only running ones", () => {
    const status = sampleStatus();
    const listeners = status.listeners.map((l, i) => (i === 0 ? { ...l, state: "restarting" as const } : l));
    const state = buildState({ ...status, listeners }, null, "1", NOW);
    assert.equal(state.listenersUp, 1);
    assert.equal(state.listenersTotal, 2);
  });

  test("a probe report in the status is used when none is given", () => {
    const state = buildState({ ...sampleStatus(), lastProbe: sampleReport }, null, "1", NOW);
    assert.deepEqual(state.probes, sampleReport);
  });

  test("reachable over IPv6 means every end-to-end probe succeeded", () => {
    assert.equal(reachableFrom(null), null);
    assert.equal(reachableFrom(sampleReport), true);
    assert.equal(reachableFrom({ at: "", ok: false, results: [] }), false);
    const deviceOnly = sampleReport.results.filter((r) => r.hop === "device");
    assert.equal(reachableFrom({ at: "", ok: true, results: deviceOnly }), false);
    const oneDown = [
      ...sampleReport.results,
      {
        device: "device",
        hop: "end-to-end" as const,
        listen: 2323,
        target: 23,
        ok: false,
        ms: 2000,
        error: "timed out",
      },
    ];
    assert.equal(reachableFrom({ at: "", ok: false, results: oneDown }), false);
  });

  test("each device under its name: phase, address, source, listeners, ports and its own reachability", () => {
    const base = sampleStatus();
    const [first] = base.devices;
    const [listener] = first?.listeners ?? [];
    assert.ok(first && listener);
    const cam = {
      ...first,
      name: "cam",
      phase: "waiting" as const,
      waitingFor: "device" as const,
      reason: "no lease or neighbour entry for 02:00:00:00:02:00",
      mac: "02:00:00:00:02:00",
      address: null,
      source: null,
      ports: [{ listen: 8554, target: 554 }],
      portsSource: "runtime" as const,
      listeners: [{ ...listener, device: "cam", listen: 8554, target: 554, state: "stopped" as const }],
    };
    const status = { ...base, devices: [first, cam], listeners: [...first.listeners, ...cam.listeners] };
    const report = {
      at: "2026-01-01T00:00:02.000Z",
      ok: false,
      results: [
        ...sampleReport.results,
        {
          device: "cam",
          hop: "end-to-end" as const,
          listen: 8554,
          target: 554,
          ok: false,
          ms: 5,
          error: "refused",
        },
      ],
    };
    const state = buildState(status, report, "1", NOW);
    assert.deepEqual(Object.keys(state.devices), ["device", "cam"]);
    assert.deepEqual(state.devices.cam, {
      phase: "waiting",
      reason: "no lease or neighbour entry for 02:00:00:00:02:00",
      waitingFor: "device",
      enabled: true,
      mac: "02:00:00:00:02:00",
      address: null,
      source: null,
      reachable: false,
      listeners: [
        {
          listen: 8554,
          target: 554,
          state: "stopped",
          pid: 1001,
          restarts: 0,
          lastError: null,
          connections: 0,
          maxChildren: 64,
          connectionErrors: 0,
        },
      ],
      listenersUp: 0,
      listenersTotal: 1,
      ports: [{ listen: 8554, target: 554 }],
      portsSource: "runtime",
      ipv6Address: "2001:db8::1",
      hostname: null,
      dns: null,
    });
    const device = state.devices.device;
    assert.ok(device);
    assert.equal(device.reachable, true, "one device down leaves the other reachable");
    assert.equal(device.address, "192.168.1.100");
    assert.equal(device.source, "lease-mac");
    assert.equal(device.listenersUp, 2);
    // 0.1's fields stay for existing templates: all listeners, the first device, reachable = every probe.
    assert.equal(state.listenersTotal, 3);
    assert.equal(state.device.address, "192.168.1.100");
    assert.equal(state.device.reachable, false);
    // A device added after the last probe is not known yet, rather than unreachable.
    assert.equal(buildState(status, sampleReport, "1", NOW).devices.cam?.reachable, null);
    assert.equal(buildState(status, null, "1", NOW).devices.device?.reachable, null);
  });

  test("a probe of one device replaces that device's results only", () => {
    const result = (device: string, ok: boolean) => ({
      device,
      hop: "end-to-end" as const,
      listen: 80,
      target: 80,
      ok,
      ms: 1,
      error: ok ? null : "refused",
    });
    const last = { at: "t1", ok: false, results: [result("cam", false), result("plc", true)] };
    const merged = mergeProbe(last, { at: "t2", ok: true, results: [result("cam", true)] }, "cam");
    assert.deepEqual(merged, { at: "t2", ok: true, results: [result("plc", true), result("cam", true)] });
    const worse = mergeProbe(merged, { at: "t3", ok: false, results: [result("plc", false)] }, "plc");
    assert.equal(worse.ok, false);
    assert.equal(reachableFrom(worse, "cam"), true);
    assert.equal(reachableFrom(worse, "plc"), false);
  });

  test("the change key ignores the uptime and nothing else", () => {
    const a = buildState(sampleStatus(), null, "1", NOW);
    const later = buildState(sampleStatus(), null, "1", NOW + 61000);
    assert.notEqual(a.uptimeSec, later.uptimeSec);
    assert.equal(stateKey(a), stateKey(later));
    const changed = buildState(sampleStatus({ reason: "x" }), null, "1", NOW);
    assert.notEqual(stateKey(a), stateKey(changed));
    const probed = buildState(sampleStatus(), sampleReport, "1", NOW);
    assert.notEqual(stateKey(a), stateKey(probed));
  });
});

describe("secrets in logs", () => {
  const SECRET = "s3cr3t-broker-password";

  function capture(): { log: Logger; text: () => string } {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk.toString("utf8"));
        cb();
      },
    });
    return {
      log: pino({ redact: { paths: [...mqttRedactPaths], censor: "[redacted]" } }, stream),
      text: () => chunks.join(""),
    };
  }

  test("the redaction paths cover the places a password can be logged", () => {
    const { log, text } = capture();
    log.info({ password: SECRET }, "top");
    log.info({ mqtt: { url: "mqtt://b", password: SECRET } }, "section");
    log.info({ config: { mqtt: { password: SECRET } } }, "config");
    log.info({ options: { username: "u", password: SECRET } }, "client options");
    log.info({ x: { y: { password: SECRET } } }, "two levels down");
    const out = text();
    assert.equal(out.split("\n").filter(Boolean).length, 5);
    assert.ok(!out.includes(SECRET), out);
    assert.equal(out.split("[redacted]").length - 1, 5);
    assert.ok(out.includes("mqtt://b"), "what is not secret stays");
  });

  test("scrubSecrets replaces every occurrence", () => {
    assert.equal(scrubSecrets(`a ${SECRET} b ${SECRET}`, [SECRET]), "a [redacted] b [redacted]");
    assert.equal(scrubSecrets("nothing here", [SECRET]), "nothing here");
    assert.equal(scrubSecrets("abc", ["ab"]), "abc", "very short secrets are not scrubbed from text");
  });
});
