// DNS that follows, against a real authoritative server (BIND 9 in the lab, test/lab/named.ts): after a WAN
// renumbering the device's name and the gateway's name answer with the new address, and the time from the address
// change to the answer is reported; a wrong key is a clear error in status while the proxy keeps serving.
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import {
  cliArgv,
  createLabFor,
  DEVICE_MAC,
  run,
  waitFor,
  waitServes,
  type AgentProcess,
  type Lab,
} from "./lab.js";
import { checkOf, describeReport, runDoctor } from "./doctor-helpers.js";
import { FOREIGN_NAME, startNamed, ZONE, type Named } from "./named.js";

const TEST = { timeout: 120_000 };
const CAM = `cam.${ZONE}`;
const GW = `gw.${ZONE}`;

async function startWithDns(
  t: TestContext,
  keyFile: (named: Named) => string,
): Promise<{ lab: Lab; named: Named; agent: AgentProcess; config: string }> {
  const lab = await createLabFor(t);
  const named = await startNamed(lab, (fn) => t.after(fn));
  const config = await lab.writeConfig({
    device: { mac: DEVICE_MAC, leases: lab.leaseFile, hostname: "cam" },
    dns: { server: named.address, zone: ZONE, keyFile: keyFile(named), ttl: 30, gatewayName: "gw" },
  });
  const agent = lab.startAgent(config);
  await agent.waitPhase("serving", 15_000);
  return { lab, named, agent, config };
}

/** Waits until the server answers exactly `address` for each name; returns when it did. */
async function waitAnswers(named: Named, names: readonly string[], address: string, agent: AgentProcess) {
  let last: string[][] = [];
  await waitFor(
    async () => {
      last = await Promise.all(names.map((n) => named.aaaa(n)));
      return last.every((a) => a.length === 1 && a[0] === address);
    },
    {
      timeoutMs: 10_000,
      intervalMs: 20,
      message: () => `the server answers ${JSON.stringify(last)}, not ${address}\n${agent.tail()}`,
    },
  );
  return performance.now();
}

describe("DNS names that follow (BIND 9, RFC 2136 + TSIG)", () => {
  it(
    "after a WAN renumbering the names answer with the new address; the time to the answer is reported",
    TEST,
    async (t) => {
      const { lab, named, agent, config } = await startWithDns(t, (n) => n.keyFile);
      await waitAnswers(named, [CAM, GW], lab.wanAddress, agent);

      const changed = performance.now();
      await lab.renumberWan("2001:db8:1::10");
      const answered = await waitAnswers(named, [CAM, GW], "2001:db8:1::10", agent);
      const ms = Math.round(answered - changed);
      t.diagnostic(`address change to DNS answer: ${ms} ms`);

      const status = await waitFor(async () => {
        const s = await agent.status();
        return s.dns?.records.every((r) => r.state === "ok" && r.address === "2001:db8:1::10")
          ? s
          : undefined;
      });
      const records = status.dns?.records ?? [];
      assert.deepEqual(
        records.map((r) => r.name),
        [CAM, GW],
      );
      for (const r of records) {
        assert.equal(r.lastError, null);
        assert.ok(
          r.latencyMs !== null && r.latencyMs >= 0 && r.latencyMs <= ms,
          `${r.name} latencyMs ${r.latencyMs}`,
        );
        t.diagnostic(`${r.name}: status latencyMs ${r.latencyMs}`);
      }
      assert.equal(status.devices?.[0]?.hostname, CAM);
      // `sixgate status` shows the names and their state.
      const text = await run(cliArgv(lab.ns.gw, ["status", "--config", config]), { timeoutMs: 10_000 });
      assert.match(text.stdout, new RegExp(`${CAM.replace(/\./g, "\\.")} +2001:db8:1::10 +ok`));
      assert.match(text.stdout, new RegExp(`${GW.replace(/\./g, "\\.")} +2001:db8:1::10 +ok`));
      // Doctor asks the server itself.
      const { report } = await runDoctor(lab, config);
      for (const name of [CAM, GW]) {
        const c = checkOf(report, `dns:${name}`);
        assert.equal(c.status, "ok", describeReport(report));
        assert.equal(c.detail, "answers 2001:db8:1::10");
      }
    },
  );

  it(
    "a hostname renamed at a reload: the new name answers and the old one is deleted; a name dropped while stopped goes at the next start",
    TEST,
    async (t) => {
      const { lab, named, agent, config } = await startWithDns(t, (n) => n.keyFile);
      await waitAnswers(named, [CAM, GW], lab.wanAddress, agent);

      const dns = { server: named.address, zone: ZONE, keyFile: named.keyFile, ttl: 30, gatewayName: "gw" };
      await lab.writeConfig(
        { device: { mac: DEVICE_MAC, leases: lab.leaseFile, hostname: "camera" }, dns },
        "config.yaml",
      );
      agent.stop("SIGHUP");
      await waitAnswers(named, [`camera.${ZONE}`, GW], lab.wanAddress, agent);
      await waitFor(async () => (await named.aaaa(CAM)).length === 0, {
        timeoutMs: 10_000,
        message: () => `${CAM} still answers\n${agent.tail()}`,
      });

      // Stopped, the gateway's name dropped from the config, started again: the recorded name is deleted.
      agent.stop("SIGTERM");
      await agent.waitExit(10_000);
      const withoutGateway = { server: dns.server, zone: dns.zone, keyFile: dns.keyFile, ttl: dns.ttl };
      const next = await lab.writeConfig(
        { device: { mac: DEVICE_MAC, leases: lab.leaseFile, hostname: "camera" }, dns: withoutGateway },
        "config.yaml",
      );
      assert.equal(next, config);
      const again = lab.startAgent(config);
      await again.waitPhase("serving", 15_000);
      await waitFor(async () => (await named.aaaa(GW)).length === 0, {
        timeoutMs: 10_000,
        message: () => `${GW} still answers\n${again.tail()}`,
      });
      assert.deepEqual(await named.aaaa(`camera.${ZONE}`), [lab.wanAddress]);
      assert.deepEqual(
        await named.aaaa(`${FOREIGN_NAME.label}.${ZONE}`),
        [FOREIGN_NAME.address],
        "not sixgate's: left alone",
      );
    },
  );

  it("a wrong key: a clear error in status, and the proxy keeps serving", TEST, async (t) => {
    const { lab, named, agent, config } = await startWithDns(t, (n) => n.wrongKeyFile);
    const status = await waitFor(async () => {
      const s = await agent.status();
      return s.dns?.records.every((r) => r.state === "failed") ? s : undefined;
    });
    for (const r of status.dns?.records ?? []) {
      assert.match(r.lastError ?? "", /NOTAUTH\(BADSIG\).*check dns\.keyFile/, r.name);
      assert.equal(r.updatedAt, null);
    }
    assert.equal(status.phase, "serving");
    await waitServes(lab, agent, 80);
    assert.deepEqual(await named.aaaa(CAM), [], "the server holds no record from the refused update");
    const { report } = await runDoctor(lab, config);
    const c = checkOf(report, `dns:${CAM}`);
    assert.equal(c.status, "fail", describeReport(report));
    assert.equal(c.detail, `answers no AAAA record, not the current address ${lab.wanAddress}`);
    assert.match(c.fix ?? "", /updates fail: .*NOTAUTH\(BADSIG\)/);
  });
});
