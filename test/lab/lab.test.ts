// Self-tests of the network lab: they need no agent, only root and the Debian tools.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import {
  CLIENT_ADDRESS,
  DEVICE_MAC,
  LAN_ADDRESS,
  WAN_ADDRESS,
  createLab,
  createLabFor,
  nsPids,
  pidRunning,
  run,
  waitFor,
  type Lab,
} from "./lab.js";

// Read before any lab exists: udhcpc's script must never write the host's copy.
const hostResolvConf = readFileSync("/etc/resolv.conf", "utf8");

const inRange = (a: string): boolean => /^192\.168\.1\.(\d+)$/.test(a) && Number(a.split(".")[3]) >= 100;

async function pingWan(lab: Lab, address: string): Promise<boolean> {
  const r = await lab.exec("cli", ["busybox", "ping", "-6", "-c", "1", "-W", "1", address]);
  return r.ok;
}

describe("lab", () => {
  let lab: Lab;
  before(async () => {
    lab = await createLab();
  });
  after(() => lab.destroy());

  it("gives the device a DHCP lease that names its MAC", async () => {
    const address = await lab.deviceAddress();
    assert.ok(address !== undefined && inRange(address), `device address ${String(address)}`);
    const leases = await lab.leases();
    assert.deepEqual(
      leases.map((l) => [l.mac, l.address]),
      [[DEVICE_MAC, address]],
    );
    const link = await lab.ipOk("dev", ["-j", "link", "show", "dev", "eth0"]);
    assert.equal((JSON.parse(link.stdout) as { address: string }[])[0]?.address, DEVICE_MAC);
  });

  it("keeps the host's resolv.conf out of udhcpc's reach", () => {
    // udhcpc's script rewrote the lab's bind-mounted copy (the marker is gone), not the host's.
    const labCopy = readFileSync(`${lab.etcNetnsDir}/resolv.conf`, "utf8");
    assert.doesNotMatch(labCopy, /sixgate lab/);
    assert.equal(readFileSync("/etc/resolv.conf", "utf8"), hostResolvConf);
  });

  it("makes the device IPv4-only", async () => {
    const r = await lab.ip("dev", ["-6", "addr", "show"]);
    assert.equal(r.stdout.trim(), "");
  });

  for (const port of [80, 23]) {
    it(`lets the gateway reach the device's HTTP on ${port} over IPv4`, async () => {
      const r = await lab.curlDevice(port);
      assert.ok(r.ok, r.stderr);
      assert.deepEqual(r.answer, { port, remote: LAN_ADDRESS });
      const index = await lab.curlDevice(port, { path: "/" });
      assert.equal(index.body.trim(), `sixgate-lab-device port=${port}`);
    });
  }

  it("does not route the client to the device (no agent, no path)", async () => {
    const r = await lab.curl6(80);
    assert.equal(r.ok, false);
  });

  it("lets the client reach the gateway's WAN over IPv6 (ping and TCP)", async () => {
    assert.ok(await pingWan(lab, WAN_ADDRESS), "ping6 to the WAN address");
    const server = lab.spawn(
      "gw",
      ["socat", `TCP6-LISTEN:7000,bind=[${WAN_ADDRESS}],reuseaddr,fork`, "EXEC:/bin/echo sixgate-wan-ok"],
      "socat-7000",
    );
    await waitFor(async () => (await lab.listeningTcp("gw")).some((l) => l.port === 7000));
    const r = await lab.execOk("cli", ["socat", "-T", "2", "-u", `TCP6:[${WAN_ADDRESS}]:7000`, "STDOUT"]);
    assert.equal(r.stdout.trim(), "sixgate-wan-ok");
    const listeners = await lab.socatListeners();
    assert.deepEqual(
      listeners.map((l) => [l.pid, l.port]),
      [[server.pid, 7000]],
    );
    assert.ok(lab.labPids().has(server.pid));
  });

  it("adds a WAN address with DAD that is tentative first, then valid", async () => {
    const address = "2001:db8:1::dad";
    await lab.sysctl("gw", { "net.ipv6.conf.wan0.dad_transmits": 2 });
    await lab.addWanAddress(address, { dad: true });
    const first = (await lab.wanAddresses()).find((a) => a.address === address);
    assert.equal(first?.tentative, true);
    await waitFor(async () => (await lab.wanAddresses()).some((a) => a.address === address && !a.tentative), {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    assert.ok(await pingWan(lab, address));
    await lab.delWanAddress(address);
  });

  it("bursts address events through ip -batch and ends where it started", async () => {
    const extra = "2001:db8:1::99";
    const lines = Array.from({ length: 200 }, () => [
      `addr add ${extra}/64 dev wan0 nodad`,
      `addr del ${extra}/64 dev wan0`,
    ]).flat();
    await lab.ipBatch("gw", lines);
    assert.deepEqual(
      (await lab.wanAddresses()).map((a) => a.address),
      [WAN_ADDRESS],
    );
  });

  it("pulls and plugs the WAN cable", async () => {
    await lab.setWanCable(false);
    assert.equal(await lab.wanHasCarrier(), false);
    assert.equal(await pingWan(lab, WAN_ADDRESS), false);
    await lab.setWanCable(true);
    assert.equal(await lab.wanHasCarrier(), true);
    const client = await lab.ipOk("cli", ["-6", "addr", "show", "dev", "eth0", "scope", "global"]);
    assert.match(client.stdout, new RegExp(CLIENT_ADDRESS));
    await waitFor(() => pingWan(lab, WAN_ADDRESS), { timeoutMs: 5_000, intervalMs: 200 });
  });

  it("renumbers the WAN: the new address answers, the old one is gone", async () => {
    const { old } = await lab.renumberWan("2001:db8:1::10");
    assert.equal(lab.wanAddress, "2001:db8:1::10");
    assert.deepEqual(
      (await lab.wanAddresses()).map((a) => a.address),
      ["2001:db8:1::10"],
    );
    assert.ok(await pingWan(lab, "2001:db8:1::10"));
    assert.equal(await pingWan(lab, old), false);
  });

  it("gives the device a new lease with the requested address", async () => {
    const before = await lab.deviceAddress();
    const wanted = before === "192.168.1.120" ? "192.168.1.121" : "192.168.1.120";
    assert.equal(await lab.newDeviceLease(wanted), wanted);
    assert.equal(await lab.deviceAddress(), wanted);
    assert.deepEqual(
      (await lab.leases()).map((l) => [l.mac, l.address]),
      [[DEVICE_MAC, wanted]],
    );
    const r = await lab.curlDevice(80);
    assert.deepEqual(r.answer, { port: 80, remote: LAN_ADDRESS });
  });

  it("renews the device's lease with the same address", async () => {
    const address = await lab.deviceAddress();
    const acks = lab.dhcpAcks();
    await lab.renewDeviceLease();
    assert.ok(lab.dhcpAcks() > acks);
    assert.equal(await lab.deviceAddress(), address);
  });

  it("writes an agent config with the lab's names and merges overrides", async () => {
    const path = await lab.writeConfig(
      { firewall: "iptables", device: { address: "192.168.1.120" } },
      "t.yaml",
    );
    const cfg = parse(await readFile(path, "utf8")) as Record<
      string,
      Record<string, unknown> | unknown[] | string | number
    >;
    assert.deepEqual(cfg.wan, { interface: "wan0", address: "auto" });
    assert.deepEqual(cfg.lan, { interface: "lan0", address: "auto" });
    assert.deepEqual(cfg.device, { mac: DEVICE_MAC, leases: lab.leaseFile, address: "192.168.1.120" });
    assert.deepEqual(cfg.ports, [
      { listen: 80, target: 80 },
      { listen: 2323, target: 23 },
    ]);
    assert.equal(cfg.firewall, "iptables");
    assert.equal(cfg.runtimeDir, `${lab.dir}/run`);
  });
});

describe("lab teardown", () => {
  it("leaves no namespace, process or file behind, and is safe to call twice", async (t) => {
    const lab = await createLabFor(t);
    const pids = [...lab.labPids()];
    assert.ok(pids.length >= 4, `dnsmasq, udhcpc and two httpd: ${pids.join(",")}`);
    // An orphan the lab did not start by name (like socat left by a killed agent) must go too.
    await lab.execOk("gw", ["setsid", "-f", "sleep", "300"], { ignoreOutput: true });
    const inside = (await Promise.all(Object.values(lab.ns).map(nsPids))).flat();
    assert.ok(inside.length > pids.length);

    await lab.destroy();
    await lab.destroy();

    const list = await run(["ip", "netns", "list"]);
    for (const name of Object.values(lab.ns))
      assert.doesNotMatch(list.stdout, new RegExp(`^${name}\\b`, "m"));
    await waitFor(() => inside.every((pid) => !pidRunning(pid)), {
      timeoutMs: 3_000,
      message: () => `still running: ${inside.filter(pidRunning).join(",")}`,
    });
    assert.equal(existsSync(lab.dir), false);
    assert.equal(existsSync(lab.etcNetnsDir), false);
  });
});
