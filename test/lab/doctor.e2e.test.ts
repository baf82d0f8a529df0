// sixgate doctor in the network lab: the healthy path passes, and each broken hop is named by its own check.
// Every change is made inside the lab's namespaces; createLabFor removes them after each test.
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import {
  DEFAULT_PORTS,
  DEVICE_MAC,
  WAN_ADDRESS,
  createLabFor,
  signalPid,
  type AgentProcess,
  type ConfigOverrides,
  type Lab,
  waitFor,
} from "./lab.js";
import {
  checkOf,
  describeReport,
  notOk,
  runDoctor,
  runDoctorText,
  startForeignListener,
  type DoctorReport,
} from "./doctor-helpers.js";

const TEST = { timeout: 90_000 };

interface Running {
  lab: Lab;
  agent: AgentProcess;
  config: string;
}

async function startServing(t: TestContext, overrides: ConfigOverrides = {}): Promise<Running> {
  const lab = await createLabFor(t);
  const config = await lab.writeConfig(overrides);
  const agent = lab.startAgent(config);
  await agent.waitPhase("serving", 15_000);
  return { lab, agent, config };
}

/** Asserts the check's status and that its detail says what broke. */
function assertCheck(report: DoctorReport, id: string, status: string, detail?: RegExp): void {
  const c = checkOf(report, id);
  assert.equal(c.status, status, `${id} should be ${status}\n${describeReport(report)}`);
  if (detail !== undefined) assert.match(c.detail, detail, `${id}\n${describeReport(report)}`);
}

describe("sixgate doctor in the lab", () => {
  it("healthy path with the agent serving: every check ok, exit 0", TEST, async (t) => {
    const { lab, config } = await startServing(t);
    const { exitCode, report } = await runDoctor(lab, config);
    assert.equal(exitCode, 0, describeReport(report));
    assert.equal(report.verdict, "ok", describeReport(report));
    assert.deepEqual(notOk(report), []);
    const skipped = report.checks.filter((c) => c.status === "skip").map((c) => c.id);
    assert.deepEqual(skipped, ["mqtt"], "only MQTT, which the lab does not configure");
    const device = await lab.deviceAddress();
    assertCheck(report, "wan-address", "ok", new RegExp(`using ${WAN_ADDRESS}/64`));
    // The rule as doctor read it back from nft -j.
    assertCheck(
      report,
      "snat",
      "ok",
      new RegExp(
        `table ip sixgate.*: oifname "lan0" ip saddr 192\\.168\\.1\\.1 ip daddr ${(device ?? "?").replace(/\./g, "\\.")} tcp dport \\{ 23, 80 \\} snat to 192\\.168\\.1\\.1`,
      ),
    );
    assert.equal(checkOf(report, "lease-files").detail, `lease file ${lab.leaseFile}: dnsmasq, 1 lease`);
    assertCheck(
      report,
      "device",
      "ok",
      new RegExp(`${device ?? "?"}, from the DHCP lease of ${lab.deviceMac}`),
    );
    for (const p of DEFAULT_PORTS) {
      assertCheck(report, `listener:${p.listen}`, "ok", /by our socat \(pid \d+\)/);
      assertCheck(report, `device-port:${p.target}`, "ok");
      assertCheck(report, `end-to-end:${p.listen}`, "ok");
    }
    assertCheck(report, "agent", "ok", /serving/);

    const text = await runDoctorText(lab, config);
    assert.equal(text.exitCode, 0);
    t.diagnostic(`\n${text.text}`);
    assert.match(text.text, /^verdict: ok: 0 failed, 0 warnings, \d+ ok, 1 skipped$/m);
  });

  it("WAN cable pulled: WAN link fails first, exit 1", TEST, async (t) => {
    const { lab, agent, config } = await startServing(t);
    await lab.setWanCable(false);
    await agent.waitPhase("waiting", 5_000, (s) => s.waitingFor === "wan-link");
    const { exitCode, report } = await runDoctor(lab, config);
    assert.equal(exitCode, 1);
    assertCheck(report, "wan-link", "fail", /wan0 is up but has no carrier/);
    assert.equal(report.firstFailure, "wan-link");
    assertCheck(report, "agent", "fail", /waiting for wan-link/);
    // The LAN side is unaffected.
    assertCheck(report, "lan-link", "ok");
    assertCheck(report, "device-port:80", "ok");
  });

  it("WAN address still tentative: WAN address fails, naming it and why", TEST, async (t) => {
    const { lab, agent, config } = await startServing(t);
    // A slow duplicate address detection (30 s) keeps the new address tentative while doctor looks.
    await lab.sysctl("gw", {
      "net.ipv6.conf.wan0.dad_transmits": 1,
      "net.ipv6.neigh.wan0.retrans_time_ms": 30_000,
    });
    await lab.renumberWan("2001:db8:1::20", { dad: true });
    const wan = await lab.wanAddresses();
    assert.deepEqual(
      wan.map((a) => [a.address, a.tentative]),
      [["2001:db8:1::20", true]],
    );
    await agent.waitPhase("waiting", 5_000, (s) => s.waitingFor === "wan-address");
    const { exitCode, report } = await runDoctor(lab, config);
    assert.equal(exitCode, 1);
    assertCheck(
      report,
      "wan-address",
      "fail",
      /2001:db8:1::20 \(tentative: duplicate address detection is still running\)/,
    );
    assert.match(checkOf(report, "wan-address").fix ?? "", /wait a few seconds/);
    assert.equal(report.firstFailure, "wan-address");
    assertCheck(report, "listener:80", "skip");
    assertCheck(report, "end-to-end:80", "skip");
  });

  it("listen port held by a foreign program: that listener fails, naming the program", TEST, async (t) => {
    const lab = await createLabFor(t);
    const foreign = await startForeignListener(lab, WAN_ADDRESS, 80);
    const config = await lab.writeConfig();
    const agent = lab.startAgent(config);
    await agent.waitPhase("degraded", 15_000, (s) =>
      s.listeners.some((l) => l.listen === 2323 && l.state === "running"),
    );
    const { exitCode, report } = await runDoctor(lab, config);
    assert.equal(exitCode, 1);
    assertCheck(
      report,
      "listener:80",
      "fail",
      new RegExp(`\\[${WAN_ADDRESS}\\]:80 is held by busybox \\(pid ${foreign.pid}\\), not by sixgate`),
    );
    assertCheck(report, "listener:2323", "ok", /by our socat/);
    assertCheck(report, "end-to-end:80", "fail", /held by busybox/);
    assert.equal(report.firstFailure, "listener:80");
  });

  it("device not answering on a target port: that device port and its end to end fail", TEST, async (t) => {
    const { lab, config } = await startServing(t, {
      ports: [...DEFAULT_PORTS.map((p) => ({ ...p })), { listen: 8081, target: 8081 }],
    });
    const { exitCode, report } = await runDoctor(lab, config);
    assert.equal(exitCode, 1);
    assertCheck(report, "device-port:8081", "fail", /refused: nothing listens on \S+ port 8081/);
    assert.match(checkOf(report, "device-port:8081").fix ?? "", /listen 8081 -> target 8081/);
    assertCheck(
      report,
      "end-to-end:8081",
      "fail",
      /closed at once by the far end: the listener could not reach/,
    );
    assertCheck(report, "listener:8081", "ok");
    assertCheck(report, "device-port:80", "ok");
    assertCheck(report, "end-to-end:80", "ok");
    assert.equal(report.firstFailure, "device-port:8081");
  });

  it(
    "LAN subnet also routed via the WAN: named, with so-bindtodevice; fatal once strict rp_filter drops replies",
    TEST,
    async (t) => {
      const { lab, config } = await startServing(t);
      // An upstream network on the LAN's subnet.
      await lab.ipOk("gw", ["addr", "add", "192.168.1.50/24", "dev", "wan0"]);
      let { report } = await runDoctor(lab, config);
      assertCheck(report, "lan-route", "warn", /wan0 also routes 192\.168\.1\.0\/24/);
      assert.match(checkOf(report, "lan-route").detail, /so-bindtodevice=lan0/);
      assert.equal(report.verdict, "warn", describeReport(report));

      // The WAN's route now comes first: sixgate's pinned socat still gets through.
      await lab.ipOk("gw", ["route", "prepend", "192.168.1.0/24", "dev", "wan0"]);
      // An unpinned connect from the LAN address (any program on the gateway; the agent's health probe was one until
      // it was pinned) now leaves through wan0 and waits in SYN-SENT. Doctor must not take it for the listener's own
      // connection (seen in CI at a health tick).
      const device = await lab.deviceAddress();
      assert.ok(device !== undefined);
      // A neighbour entry on wan0 that nobody answers for keeps it in SYN-SENT (no ARP failure ends it early).
      await lab.ipOk("gw", [
        "neigh",
        "replace",
        device,
        "lladdr",
        "02:00:00:00:99:99",
        "dev",
        "wan0",
        "nud",
        "permanent",
      ]);
      const unpinned = lab.spawn(
        "gw",
        ["curl", "-sS", "--interface", "192.168.1.1", "--connect-timeout", "20", `http://${device}:80/`],
        "unpinned-connect",
      );
      await waitFor(
        async () =>
          (await lab.execOk("gw", ["ss", "-H", "-t", "-n", "state", "syn-sent"])).stdout.includes(
            `192.168.1.1:`,
          ),
        { timeoutMs: 5_000, message: () => lab.readLog("unpinned-connect") },
      );
      ({ report } = await runDoctor(lab, config));
      assert.equal(unpinned.exitInfo, undefined, "the unpinned connect was still waiting while doctor ran");
      assertCheck(report, "lan-route", "warn", /the route to the device \S+ leaves through wan0/);
      assertCheck(report, "end-to-end:80", "ok");
      // Doctor's device probe is pinned to lan0 like socat, so the routing table does not fool it.
      assertCheck(report, "device-port:80", "ok", /accepts connections from 192\.168\.1\.1 on lan0/);
      assertCheck(report, "device-port:23", "ok");
      assert.equal((await lab.curl6(80)).ok, true, "a client still gets through");

      // Strict reverse-path filtering drops the device's replies on lan0: now it is broken, and doctor says where.
      await lab.sysctl("gw", { "net.ipv4.conf.all.rp_filter": 1, "net.ipv4.conf.lan0.rp_filter": 1 });
      const run = await runDoctor(lab, config);
      assert.equal(run.exitCode, 1);
      assertCheck(run.report, "lan-route", "fail", /strict reverse-path filtering \(rp_filter=1\)/);
      assertCheck(
        run.report,
        "end-to-end:80",
        "fail",
        /got no answer \(SYN sent from 192\.168\.1\.1 on lan0/,
      );
      assert.equal(run.report.firstFailure, "lan-route");
      assert.equal((await lab.curl6(80)).ok, false, "and a client indeed gets no answer");
    },
  );

  it("no agent running: the agent and everything it keeps fail, the network checks pass", TEST, async (t) => {
    const lab = await createLabFor(t);
    const config = await lab.writeConfig();
    const { exitCode, report } = await runDoctor(lab, config);
    assert.equal(exitCode, 1);
    assertCheck(report, "agent", "fail", /no sixgate agent is running/);
    for (const p of DEFAULT_PORTS) {
      assertCheck(report, `listener:${p.listen}`, "fail", /nothing listens on/);
      assert.match(checkOf(report, `listener:${p.listen}`).fix ?? "", /start the agent/);
      assertCheck(report, `end-to-end:${p.listen}`, "fail", /refused/);
      assertCheck(report, `device-port:${p.target}`, "ok");
    }
    assertCheck(report, "snat", "fail", /table ip sixgate is missing/);
    for (const id of ["wan-link", "wan-address", "host-firewall", "lan-link", "lan-route", "device"])
      assertCheck(report, id, "ok");
  });

  it("SNAT rules deleted behind the agent's back: Source NAT fails", TEST, async (t) => {
    const { lab, config } = await startServing(t);
    // The agent's nft watch repairs a deleted table at once: paused here, so doctor can see the table missing.
    const monitor = await lab.recordedPid("nft-monitor");
    signalPid(monitor, "SIGSTOP");
    t.after(() => signalPid(monitor, "SIGCONT"));
    // The agent's health tick repairs drift; should it do so between our delete and doctor's read, try again.
    let report: DoctorReport | undefined;
    for (let attempt = 0; attempt < 3 && report === undefined; attempt++) {
      await lab.execOk("gw", ["nft", "delete", "table", "ip", "sixgate"]);
      const run = await runDoctor(lab, config);
      if (checkOf(run.report, "snat").status === "fail") report = run.report;
    }
    assert.ok(report !== undefined, "doctor never saw the table missing");
    assertCheck(
      report,
      "snat",
      "fail",
      /table ip sixgate is missing; want: oifname "lan0" ip saddr 192\.168\.1\.1 ip daddr/,
    );
    assert.match(checkOf(report, "snat").fix ?? "", /restart it/);
    assertCheck(report, "listener:80", "ok");
  });

  it(
    "host firewall dropping the listen ports: named, while the gateway's own connection still passes",
    TEST,
    async (t) => {
      const { lab, config } = await startServing(t);
      // fw4's shape: a SYN rate limit and a per-interface chain reached by jumps.
      const ruleset = [
        "table inet sgtest {",
        "  chain input {",
        "    type filter hook input priority 0; policy drop;",
        "    ct state established,related accept",
        '    iifname "lo" accept',
        "    tcp flags syn / fin,syn,rst,ack jump syn_flood",
        '    iifname "wan0" jump input_wan',
        "  }",
        "  chain syn_flood {",
        "    limit rate 25/second burst 50 packets return",
        "    drop",
        "  }",
        "  chain input_wan {",
        "    tcp dport 2323 counter accept",
        "  }",
        "}",
      ].join("\n");
      await lab.execOk("gw", ["nft", "-f", "-"], { input: `${ruleset}\n` });
      const { exitCode, report } = await runDoctor(lab, config);
      assert.equal(exitCode, 1);
      assertCheck(report, "host-firewall", "fail", /tcp\/80: dropped by the policy of inet sgtest input/);
      assert.match(
        checkOf(report, "host-firewall").detail,
        /tcp\/2323: accepted by "tcp dport 2323 counter accept" in inet sgtest input_wan/,
      );
      assertCheck(report, "end-to-end:80", "ok");
      assert.equal(
        (await lab.curl6(80, lab.wanAddress, { connectTimeoutS: 1, maxTimeS: 2 })).ok,
        false,
        "clients are dropped",
      );
    },
  );

  it(
    "host firewall made with ip6tables-nft: doctor reads its rules through nft -j and names the policy",
    TEST,
    async (t) => {
      const { lab, config } = await startServing(t);
      for (const args of [
        ["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
        ["-A", "INPUT", "-p", "tcp", "--dport", "2323", "-j", "ACCEPT"],
        ["-P", "INPUT", "DROP"],
      ])
        await lab.execOk("gw", ["ip6tables-nft", ...args]);
      let { report } = await runDoctor(lab, config);
      assertCheck(report, "host-firewall", "fail", /tcp\/80: dropped by the policy of ip6 filter INPUT/);
      assert.match(
        checkOf(report, "host-firewall").detail,
        /tcp\/2323: accepted by "tcp dport 2323 counter accept" in ip6 filter INPUT/,
      );
      // -m conntrack stays an iptables extension nft -j names but cannot show: the verdict is unknown, not a guess.
      await lab.execOk("gw", [
        "ip6tables-nft",
        ..."-I INPUT 2 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT".split(" "),
      ]);
      ({ report } = await runDoctor(lab, config));
      assertCheck(
        report,
        "host-firewall",
        "warn",
        /tcp\/80: unknown, depends on "xt match "conntrack" counter accept"/,
      );
    },
  );

  it("LAN cable pulled: LAN link fails", TEST, async (t) => {
    const { lab, agent, config } = await startServing(t);
    await lab.ipOk("dev", ["link", "set", "eth0", "down"]);
    await agent.waitPhase("waiting", 5_000, (s) => s.waitingFor === "lan-link");
    const { report } = await runDoctor(lab, config);
    assertCheck(report, "lan-link", "fail", /lan0 is up but has no carrier/);
    // The listeners are gone because the agent waits for the LAN, and they say so.
    assertCheck(report, "listener:80", "fail", /the agent is waiting for lan-link/);
    assert.equal(checkOf(report, "listener:80").fix, "see the LAN link check");
  });

  it("two devices, one answering and one absent: each device's checks under its name", TEST, async (t) => {
    const lab = await createLabFor(t);
    // ghost: a static address in the LAN subnet where no host is.
    const config = await lab.writeConfig({
      device: undefined,
      ports: undefined,
      leases: [lab.leaseFile],
      devices: [
        { name: "cam", mac: DEVICE_MAC, ports: DEFAULT_PORTS.map((p) => ({ ...p })) },
        { name: "ghost", address: "192.168.1.250", ports: [{ listen: 8081, target: 80 }] },
      ],
    });
    const agent = lab.startAgent(config);
    // Its listeners are up for both (ghost's address is configured); whether its phase says so yet does not matter.
    await waitFor(
      async () => (await agent.status()).listeners.filter((l) => l.state === "running").length === 3,
      { timeoutMs: 15_000, intervalMs: 100, message: () => agent.tail() },
    );
    const { exitCode, report } = await runDoctor(lab, config);
    assert.equal(exitCode, 1, describeReport(report));
    const camAddress = (await lab.deviceAddress()) ?? "?";
    assertCheck(
      report,
      "cam/device",
      "ok",
      new RegExp(`${camAddress}, from the DHCP lease of ${DEVICE_MAC}`),
    );
    assertCheck(report, "ghost/device", "ok", /192\.168\.1\.250, from devices\[1\]\.address in the config/);
    for (const p of DEFAULT_PORTS) {
      assertCheck(report, `cam/listener:${p.listen}`, "ok", /by our socat \(pid \d+\)/);
      assertCheck(report, `cam/device-port:${p.target}`, "ok");
      assertCheck(report, `cam/end-to-end:${p.listen}`, "ok");
    }
    assertCheck(report, "ghost/listener:8081", "ok", /by our socat \(pid \d+\)/);
    assertCheck(report, "ghost/device-port:80", "fail", /192\.168\.1\.250:80 from 192\.168\.1\.1 on lan0/);
    assert.notEqual(checkOf(report, "ghost/end-to-end:8081").status, "ok", describeReport(report));
    assert.equal(report.firstFailure, "ghost/device-port:80", describeReport(report));
    // No check is left under the shorthand's plain ids.
    assert.deepEqual(
      report.checks.filter((c) => /^(device|listener|device-port|end-to-end|lan-route)\b/.test(c.id)),
      [],
    );

    const text = await runDoctorText(lab, config);
    t.diagnostic(`\n${text.text}`);
    assert.match(text.text, /^sixgate doctor: wan0 -> lan0, ports cam 80->80, 2323->23; ghost 8081->80$/m);
    assert.match(text.text, /^ok {4}cam: device port 80 +/m);
    assert.match(text.text, /^ok {4}ghost: LAN subnet and route +/m);
    assert.match(text.text, /^FAIL {2}ghost: device port 80 +192\.168\.1\.250:80/m);
    assert.match(text.text, /^verdict: FAIL: .*; start with: ghost: device port 80$/m);
  });
});
