// End-to-end tests: the built agent (the bundle, dist/sixgate.mjs) as a real child process in the lab's gateway
// namespace, real socat and nft/iptables. Each test asserts what a client (or an operator) sees.
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import {
  AGENT_CLI,
  DEFAULT_PORTS,
  WAN_ADDRESS,
  createLabFor,
  pidRunning,
  waitServes,
  sleep,
  waitFor,
  type AgentProcess,
  type AgentStatus,
  type ConfigOverrides,
  type Lab,
} from "./lab.js";

const TEST = { timeout: 90_000 };
const PORTS: readonly number[] = DEFAULT_PORTS.map((p) => p.listen);

interface Running {
  lab: Lab;
  agent: AgentProcess;
  config: string;
  status: AgentStatus;
}

/** A fresh lab with the agent started on it and serving. */
async function startServing(t: TestContext, overrides: ConfigOverrides = {}): Promise<Running> {
  const lab = await createLabFor(t);
  const config = await lab.writeConfig(overrides);
  const agent = lab.startAgent(config);
  const status = await agent.waitPhase("serving", 15_000);
  return { lab, agent, config, status };
}

async function assertServesAllPorts(lab: Lab, agent: AgentProcess, address = lab.wanAddress): Promise<void> {
  for (const listen of PORTS) await waitServes(lab, agent, listen, address);
}

/** The agent's socat listeners on the configured ports (ignores anyone else's socat). */
async function agentListeners(lab: Lab): Promise<{ port: number; pid: number }[]> {
  return (await lab.socatListeners())
    .filter((l) => PORTS.includes(l.port))
    .map(({ port, pid }) => ({ port, pid }));
}

async function assertOneListenerPerPort(lab: Lab): Promise<void> {
  assert.deepEqual(
    (await agentListeners(lab)).map((l) => l.port),
    PORTS,
    "exactly one socat listener per configured port",
  );
}

async function sixgateTables(lab: Lab): Promise<string[]> {
  return (await lab.nftTables()).filter((t) => t === "table ip sixgate");
}

/**
 * Processes in the gateway namespace that the lab did not start itself (the agent and its children).
 * dnsmasq's --dhcp-script helper and the hook it runs are the lab's.
 */
async function processesNotOfLab(lab: Lab): Promise<string[]> {
  const all = await lab.processesIn("gw");
  const mine = lab.labPids();
  for (const p of all) if (p.args.some((a) => a.endsWith("/dnsmasq-dhcp-script"))) mine.add(p.pid);
  return all
    .filter((p) => !mine.has(p.pid) && !mine.has(p.ppid))
    .map((p) => `${p.pid} (ppid ${p.ppid}) ${p.args.join(" ")}`);
}

async function stopAndAssertClean(
  lab: Lab,
  agent: AgentProcess,
  signal: NodeJS.Signals = "SIGTERM",
): Promise<void> {
  const started = Date.now();
  agent.stop(signal);
  const exit = await agent.waitExit(5_000);
  assert.ok(exit !== undefined, `agent did not exit within 5 s of ${signal}\n${agent.tail()}`);
  assert.equal(exit.code, 0, `exit after ${signal}\n${agent.tail()}`);
  assert.ok(Date.now() - started <= 5_000);
  assert.deepEqual(await sixgateTables(lab), [], "table ip sixgate removed");
  assert.doesNotMatch(await lab.iptablesSave(), /SIXGATE/, "no SIXGATE chain");
  // Children may need a moment to be reaped, but none may survive.
  let left: string[] = [];
  await waitFor(
    async () => {
      left = await processesNotOfLab(lab);
      return left.length === 0;
    },
    { timeoutMs: 2_000, message: () => `left in the gateway: ${left.join("; ")}` },
  );
}

describe("sixgate agent end to end", () => {
  it("serves every configured port over IPv6 with the device's answer", TEST, async (t) => {
    const { lab, agent, status } = await startServing(t);
    await assertServesAllPorts(lab, agent);
    assert.equal(status.wan.address, WAN_ADDRESS);
    assert.equal(status.device.address, await lab.deviceAddress());
    assert.equal(status.device.mac, lab.deviceMac);
    assert.equal(status.pid, agent.pid);
    assert.equal(status.firewall.backend, "nft");
    assert.deepEqual(
      status.listeners.map((l) => [l.listen, l.target, l.state]),
      DEFAULT_PORTS.map((p) => [p.listen, p.target, "running"]),
    );
    await assertOneListenerPerPort(lab);
    assert.deepEqual(await sixgateTables(lab), ["table ip sixgate"]);
  });

  it(
    "follows a WAN renumbering: the new address serves within seconds, the old one is refused",
    TEST,
    async (t) => {
      const { lab, agent } = await startServing(t);
      const started = Date.now();
      const { old } = await lab.renumberWan("2001:db8:1::10");
      await waitServes(lab, agent, 80, "2001:db8:1::10", 5_000);
      t.diagnostic(`renumbering served again after ${Date.now() - started} ms`);
      await assertServesAllPorts(lab, agent);
      for (const listen of PORTS) {
        const r = await lab.curl6(listen, old);
        assert.equal(r.ok, false, `old address still answers on ${listen}`);
      }
      assert.equal((await agent.status()).wan.address, "2001:db8:1::10");
      await assertOneListenerPerPort(lab);
    },
  );

  it("follows the device to a new DHCP lease with a different address", TEST, async (t) => {
    const { lab, agent } = await startServing(t);
    const before = await lab.deviceAddress();
    const wanted = before === "192.168.1.120" ? "192.168.1.121" : "192.168.1.120";
    await lab.newDeviceLease(wanted);
    await assertServesAllPorts(lab, agent);
    const status = await agent.waitPhase("serving", 5_000, (s) => s.device.address === wanted);
    assert.equal(status.device.mac, lab.deviceMac);
    await assertOneListenerPerPort(lab);
  });

  it(
    "the real dnsmasq runs the real DHCP hook on a new lease, and the agent hears it and follows",
    TEST,
    async (t) => {
      const { lab, agent } = await startServing(t);
      const before = await lab.deviceAddress();
      const wanted = before === "192.168.1.130" ? "192.168.1.131" : "192.168.1.130";
      await lab.newDeviceLease(wanted);
      // dnsmasq -> hotplug/dnsmasq-dhcp-script -> socat -> the agent's socket.
      const heard = await waitFor(
        () =>
          agent.logs().find((l) => {
            const m = l.hotplug as { kind?: string; action?: string; ip?: string; mac?: string } | undefined;
            return (
              l.msg === "hotplug notification" && m?.kind === "dhcp" && m.action === "add" && m.ip === wanted
            );
          }),
        { timeoutMs: 5_000, message: () => agent.tail() },
      );
      assert.equal((heard.hotplug as { mac?: string }).mac, lab.deviceMac);
      await agent.waitPhase("serving", 5_000, (s) => s.device.address === wanted);
      await assertServesAllPorts(lab, agent);
    },
  );

  it(
    "an upstream network on the LAN's subnet routes the device out of the WAN: the proxy and its health probe still reach it",
    TEST,
    async (t) => {
      // A health tick every second, so that a probe runs after the misrouting.
      const { lab, agent } = await startServing(t, { health: { schedule: "* * * * * *" } });
      const device = await lab.deviceAddress();
      assert.ok(device !== undefined);
      // A more specific route through the WAN for the device's part of 192.168.1.0/24, as an upstream
      // network on the same subnet gives: the routing table now sends the device's traffic out of wan0.
      await lab.ipOk("gw", ["route", "add", `${device}/32`, "dev", "wan0"]);
      const route = await lab.execOk("gw", ["ip", "-json", "route", "get", device]);
      assert.match(route.stdout, /"dev":"wan0"/, "the table really misroutes the device");
      // A plain IPv4 connection from the gateway follows the table and goes nowhere...
      const plain = await lab.exec("gw", [
        "curl",
        "-sS",
        "--connect-timeout",
        "1",
        "-m",
        "2",
        `http://${device}:80/`,
      ]);
      assert.equal(plain.ok, false, "without pinning, the device is unreachable");
      // ...but socat pins its IPv4 leg to lan0 (so-bindtodevice), so the client is still served.
      await assertServesAllPorts(lab, agent);
      // The health probe of the device hop is pinned the same way: no false alarm while clients are served.
      const misroutedAt = new Date().toISOString();
      const probed = await waitFor(
        async () => {
          const s = await agent.status();
          return s.lastProbe !== null && s.lastProbe.at > misroutedAt ? s : undefined;
        },
        { timeoutMs: 10_000, message: () => agent.tail() },
      );
      assert.deepEqual(
        probed.lastProbe?.results.map((r) => [r.hop, r.target, r.ok, r.error]),
        [
          ["device", 80, true, null],
          ["end-to-end", 80, true, null],
          ["device", 23, true, null],
          ["end-to-end", 23, true, null],
        ],
      );
      assert.equal(probed.phase, "serving");
    },
  );

  it(
    "WAN cable pulled: listeners gone and status waits for wan-link; plugged back: serving",
    TEST,
    async (t) => {
      const { lab, agent } = await startServing(t);
      await lab.setWanCable(false);
      const waiting = await agent.waitPhase("waiting", 5_000, (s) => s.waitingFor === "wan-link");
      assert.equal(waiting.waitingFor, "wan-link");
      await waitFor(async () => (await agentListeners(lab)).length === 0, {
        timeoutMs: 5_000,
        message: () => agent.tail(),
      });
      const bound = (await lab.listeningTcp("gw")).filter((l) => PORTS.includes(l.port));
      assert.deepEqual(bound, [], "nothing listens on the configured ports");
      assert.equal((await lab.curl6(80)).ok, false);

      await lab.setWanCable(true);
      await assertServesAllPorts(lab, agent);
      await agent.waitPhase("serving", 5_000);
      await assertOneListenerPerPort(lab);
    },
  );

  it("a lease renewal with the same address changes nothing: same rules, same listeners", TEST, async (t) => {
    const { lab, agent } = await startServing(t);
    // -a prints handles: a re-applied table gets new ones even when its text is the same.
    const rules = await lab.execOk("gw", ["nft", "-a", "list", "table", "ip", "sixgate"]);
    const pids = await agentListeners(lab);
    const leases = await lab.leases();
    await sleep(1_100); // so the renewed lease's expiry, and hence the file, differs
    await lab.renewDeviceLease();
    assert.notDeepEqual(await lab.leases(), leases, "the lease file was rewritten");
    await sleep(1_000); // debounceMs is 100: any reaction would have happened by now
    await assertServesAllPorts(lab, agent);
    assert.equal(
      (await lab.execOk("gw", ["nft", "-a", "list", "table", "ip", "sixgate"])).stdout,
      rules.stdout,
    );
    assert.deepEqual(await agentListeners(lab), pids);
  });

  it(
    "SIGHUP reloads the config: a new port serves, the others keep their listeners; a bad file changes nothing",
    TEST,
    async (t) => {
      const { lab, agent, config } = await startServing(t);
      const before = await agentListeners(lab);
      await lab.writeConfig({ ports: [...DEFAULT_PORTS, { listen: 8080, target: 80 }] }, "config.yaml");
      assert.equal(config, `${lab.dir}/config.yaml`);
      agent.stop("SIGHUP");
      await waitFor(async () => (await lab.curl6(8080)).answer?.port === 80, {
        timeoutMs: 5_000,
        message: () => agent.tail(),
      });
      const after = await agentListeners(lab);
      assert.deepEqual(
        after.filter((l) => l.port !== 8080),
        before,
        "listeners of unchanged ports were not restarted",
      );

      await lab.writeRawConfig("ports: [{ listen: 70000, target: 80 }]\n", "config.yaml");
      agent.stop("SIGHUP");
      await sleep(1_000);
      assert.ok(agent.running, "a bad config on SIGHUP must not stop the agent");
      assert.equal((await lab.curl6(8080)).answer?.port, 80);
      await assertServesAllPorts(lab, agent);
    },
  );

  it("cleanup after a SIGKILLed agent removes its table and listeners", TEST, async (t) => {
    const { lab, agent, config } = await startServing(t);
    agent.stop("SIGKILL");
    assert.ok(await agent.waitExit(5_000));
    const r = await lab.exec("gw", [process.execPath, AGENT_CLI, "cleanup", "--config", config]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(await sixgateTables(lab), []);
    assert.deepEqual(await agentListeners(lab), []);
    assert.equal((await lab.curl6(80)).ok, false);
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`${signal}: exits 0 within 5 s and leaves no table, chain or process`, TEST, async (t) => {
      const { lab, agent } = await startServing(t);
      await assertServesAllPorts(lab, agent);
      await stopAndAssertClean(lab, agent, signal);
      const status = await agent.statusRaw();
      assert.equal(status.exitCode, 1, `status must fail when no agent runs: ${status.stdout}`);
      assert.notEqual(status.stderr.trim(), "");
      assert.equal((await lab.curl6(80)).ok, false);
    });
  }

  it("SIGTERM with client connections open: the connections' socat children go too", TEST, async (t) => {
    const { lab, agent } = await startServing(t);
    // Two idle client connections held open through the proxy (socat forks a child for each).
    for (const i of [1, 2]) {
      lab.spawn("cli", ["socat", "-u", "EXEC:sleep 60", `TCP6:[${lab.wanAddress}]:80`], `held-${i}`);
    }
    let seen: string[] = [];
    await waitFor(
      async () => {
        seen = (await processesNotOfLab(lab)).filter((p) => p.includes("socat"));
        return seen.length >= 4; // two listeners and two connection children
      },
      { timeoutMs: 5_000, message: () => seen.join("; ") },
    );
    await stopAndAssertClean(lab, agent);
  });

  it("SIGKILL then restart: exactly one table and one socat per port, serving again", TEST, async (t) => {
    const { lab, agent, config } = await startServing(t);
    agent.stop("SIGKILL");
    assert.ok(await agent.waitExit(5_000), "agent survived SIGKILL");

    const second = lab.startAgent(config);
    await second.waitPhase("serving", 15_000);
    await assertServesAllPorts(lab, second);
    assert.deepEqual(await sixgateTables(lab), ["table ip sixgate"]);
    await assertOneListenerPerPort(lab);
    const status = await second.status();
    assert.deepEqual(
      status.listeners.map((l) => l.pid).sort(),
      (await agentListeners(lab)).map((l) => l.pid).sort(),
      "status names the socat processes that actually listen",
    );
    // Whatever it adopted or replaced, the second agent leaves nothing behind either.
    await stopAndAssertClean(lab, second);
  });

  it(
    "leaves a foreign nft table and a foreign socat alone through start, reconcile and stop",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      await lab.execOk("gw", ["nft", "-f", "-"], {
        input:
          "table inet foreign {\n  chain keep {\n    type filter hook input priority 0; policy accept;\n    tcp dport 9 accept\n  }\n}\n",
      });
      const foreignTable = await lab.nftTable("inet", "foreign");
      assert.ok(foreignTable?.includes("chain keep"));
      const foreign = lab.spawn(
        "gw",
        ["socat", "TCP6-LISTEN:9999,reuseaddr,fork", "EXEC:/bin/echo foreign-ok"],
        "foreign-socat",
      );
      await waitFor(async () => (await lab.listeningTcp("gw")).some((l) => l.port === 9999));

      const agent = lab.startAgent(await lab.writeConfig());
      await agent.waitPhase("serving", 15_000);
      await lab.renumberWan("2001:db8:1::10");
      await assertServesAllPorts(lab, agent);
      // The foreign socat was started by the lab, so the clean-stop check does not count it.
      await stopAndAssertClean(lab, agent);

      assert.equal(await lab.nftTable("inet", "foreign"), foreignTable, "foreign table unchanged");
      assert.ok(pidRunning(foreign.pid), "foreign socat was killed");
      const r = await lab.execOk("cli", [
        "socat",
        "-T",
        "2",
        "-u",
        `TCP6:[${lab.wanAddress}]:9999`,
        "STDOUT",
      ]);
      assert.equal(r.stdout.trim(), "foreign-ok");
    },
  );

  it(
    "kill -9 of one socat: that port serves again within seconds and status counts the restart",
    TEST,
    async (t) => {
      const { lab, agent, status } = await startServing(t);
      const victim = status.listeners.find((l) => l.listen === 80);
      const bystander = status.listeners.find((l) => l.listen === 2323);
      assert.ok(typeof victim?.pid === "number" && typeof bystander?.pid === "number");
      // Only ever signal a process that is a socat listener inside this lab's gateway namespace.
      assert.ok((await agentListeners(lab)).some((l) => l.pid === victim.pid));
      process.kill(victim.pid, "SIGKILL");

      const started = Date.now();
      await waitServes(lab, agent, 80, lab.wanAddress, 10_000);
      t.diagnostic(`port 80 served again ${Date.now() - started} ms after kill -9`);
      const after = await agent.waitPhase("serving", 5_000, (s) =>
        s.listeners.some((l) => l.listen === 80 && l.restarts >= 1 && l.pid !== victim.pid),
      );
      const restarted = after.listeners.find((l) => l.listen === 80);
      assert.ok(restarted && restarted.restarts >= 1);
      assert.equal(
        after.listeners.find((l) => l.listen === 2323)?.pid,
        bystander.pid,
        "other port untouched",
      );
      await assertOneListenerPerPort(lab);
    },
  );

  it(
    "a burst of hundreds of address events leaves one listener per port, the same rules, no leaks",
    TEST,
    async (t) => {
      const { lab, agent } = await startServing(t);
      const extra = "2001:db8:1::99";
      const burst = (n: number) =>
        lab.ipBatch(
          "gw",
          Array.from({ length: n }, () => [
            `addr add ${extra}/64 dev wan0 nodad`,
            `addr del ${extra}/64 dev wan0`,
          ]).flat(),
        );
      const settled = async () => {
        await sleep(500);
        await agent.waitPhase("serving", 10_000);
        await assertServesAllPorts(lab, agent);
      };
      // Warm up first, so one-time allocations do not count as leaks.
      await burst(10);
      await settled();
      const rules = await lab.nftTable("ip", "sixgate");
      const processes = (await processesNotOfLab(lab)).sort();
      const fds = agent.fdCount();
      assert.ok(rules !== undefined && fds !== undefined);

      await burst(200);
      await settled();

      assert.ok(agent.running, "agent survived the burst");
      await assertOneListenerPerPort(lab);
      assert.equal(await lab.nftTable("ip", "sixgate"), rules, "same nft ruleset");
      let now: string[] = [];
      await waitFor(
        async () => {
          now = (await processesNotOfLab(lab)).sort();
          return now.join("\n") === processes.join("\n");
        },
        {
          timeoutMs: 5_000,
          message: () => `processes before:\n${processes.join("\n")}\nafter:\n${now.join("\n")}`,
        },
      );
      await waitFor(() => (agent.fdCount() ?? Infinity) <= fds, {
        timeoutMs: 5_000,
        message: () => `fds before ${fds}, after ${String(agent.fdCount())}`,
      });
      t.diagnostic(`fds ${fds} -> ${String(agent.fdCount())}`);
    },
  );

  it(
    "refuses a bad config with exit 78 and a message naming the field, changing nothing",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      const config = await lab.writeConfig({ ports: [{ listen: 70000, target: 80 }] }, "bad.yaml");
      const agent = lab.startAgent(config);
      const exit = await agent.waitExit(10_000);
      assert.ok(exit !== undefined, "agent did not exit on a bad config");
      assert.equal(exit.code, 78, agent.tail());
      assert.match(agent.stderr, /ports(\.0\.|\[0\]\.)listen/);
      assert.deepEqual(await sixgateTables(lab), []);
      assert.doesNotMatch(await lab.iptablesSave(), /SIXGATE/);
      assert.deepEqual(await processesNotOfLab(lab), []);
    },
  );

  it(
    "does not use a tentative WAN address until DAD completes, then serves with no other event",
    TEST,
    async (t) => {
      const { lab, agent } = await startServing(t);
      // Four DAD probes a second apart: a tentative window long enough to look at.
      await lab.sysctl("gw", { "net.ipv6.conf.wan0.dad_transmits": 4 });
      const fresh = "2001:db8:1::20";
      await lab.addWanAddress(fresh, { dad: true });
      await lab.delWanAddress(WAN_ADDRESS);
      lab.wanAddress = fresh;

      const isTentative = async () =>
        (await lab.wanAddresses()).find((a) => a.address === fresh)?.tentative === true;
      let samples = 0;
      let sawWaiting = false;
      for (let i = 0; i < 100 && (await isTentative()); i++) {
        const status = await agent.status();
        const answered = (await lab.curl6(80, fresh, { connectTimeoutS: 0.3, maxTimeS: 1 })).ok;
        // Only a sample taken while the address is still tentative afterwards counts: DAD may end during the
        // request, and the agent then serves at once.
        if (!(await isTentative())) break;
        samples++;
        assert.notEqual(status.wan.address, fresh, "agent used a tentative address");
        assert.equal(answered, false, "answered on a tentative address");
        if (status.phase === "waiting" && status.waitingFor === "wan-address") sawWaiting = true;
        await sleep(100);
      }
      assert.ok(samples > 0, "the address was never seen tentative: DAD too fast to test");
      assert.ok(
        sawWaiting,
        "status never said it waits for wan-address while the only address was tentative",
      );

      const started = Date.now();
      await assertServesAllPorts(lab, agent);
      t.diagnostic(`served ${Date.now() - started} ms after DAD completed (${samples} tentative samples)`);
      assert.equal((await agent.status()).wan.address, fresh);
    },
  );

  it("firewall: iptables serves too, and SIGTERM leaves no SIXGATE chain", TEST, async (t) => {
    const { lab, agent, status } = await startServing(t, { firewall: "iptables" });
    assert.equal(status.firewall.backend, "iptables");
    await assertServesAllPorts(lab, agent);
    assert.match(await lab.iptablesSave(), /SIXGATE-POSTROUTING/);
    assert.deepEqual(await sixgateTables(lab), [], "no nft table with firewall: iptables");
    await stopAndAssertClean(lab, agent);
    assert.doesNotMatch(await lab.iptablesSave(), /SIXGATE/);
  });
});
