// Own IPv6 addresses (issue 11), with the real agent, iproute2, the kernel's DAD, socat and nft in the lab:
//   cam      the lab's own device (by MAC, its lease), `ipv6: own` with ipv6Suffix ::80, port 80
//   printer  an extra LAN host (static address), `ipv6: own` with the suffix derived from its name, port 80
// Both serve port 80, each from its own address in the WAN prefix. Beside them a foreign /128 on wan0 (added by the
// test, as another program would) that the agent must never touch.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { checkOf, describeReport, runDoctor } from "./doctor-helpers.js";
import { staticHost } from "./hosts.js";
import {
  DEVICE_MAC,
  LAN_ADDRESS,
  cliArgv,
  createLabFor,
  pidAlive,
  runOk,
  signalPid,
  statusSchema,
  waitFor,
  type AgentProcess,
  type AgentStatus,
  type JsonValue,
  type Lab,
} from "./lab.js";

const PRINTER = { mac: "02:00:00:00:04:00", address: "192.168.1.70" } as const;
/** The printer's derived suffix (docs/configuration.md: FNV-1a 64 of "sixgate:printer", u/g bits cleared). */
const PRINTER_SUFFIX = "fc6b:6fe6:44e4:95d6";
/** Deprecated (preferred_lft 0), so the WAN address choice never prefers it to the gateway's own. */
const FOREIGN = "2001:db8:1::81";

const own = (prefix: string) => ({ cam: `${prefix}::80`, printer: `${prefix}:0:${PRINTER_SUFFIX}` });

type Device = NonNullable<AgentStatus["devices"]>[number];
const device = (s: AgentStatus, name: string): Device | undefined => s.devices?.find((d) => d.name === name);

/** Both devices serving from their own addresses. */
const bothServe = (addresses: { cam: string; printer: string }) => (s: AgentStatus) =>
  (["cam", "printer"] as const).every((n) => {
    const d = device(s, n);
    return d?.phase === "serving" && d.ipv6?.address === addresses[n] && d.ipv6.state === "valid";
  });

/** Which host answered a client's request to [address]:80 ("" = the lab's own device, the cam), or undefined. */
async function answerer(lab: Lab, address: string): Promise<string | undefined> {
  const r = await lab.curl6(80, address, { connectTimeoutS: 1, maxTimeS: 2 });
  if (!r.ok || r.answer?.port !== 80 || r.answer.remote !== LAN_ADDRESS) return undefined;
  return /host=(\S+)/.exec(r.body)?.[1] ?? "";
}

async function waitAnswers(lab: Lab, addresses: { cam: string; printer: string }) {
  let seen: (string | undefined)[] = [];
  await waitFor(
    async () => {
      seen = await Promise.all([answerer(lab, addresses.cam), answerer(lab, addresses.printer)]);
      return seen[0] === "" && seen[1] === "printer";
    },
    { timeoutMs: 20_000, intervalMs: 200, message: () => `answers: ${JSON.stringify(seen)}` },
  );
}

/** The global IPv6 addresses on the gateway's wan0 as "address/prefixlen", with their count. */
async function wanAddressCounts(lab: Lab): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const a of await lab.wanAddresses()) {
    const key = `${a.address}/${String(a.prefixLength)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

async function listenerPid(agent: AgentProcess, name: string): Promise<number> {
  const s = statusSchema.parse(JSON.parse((await agent.statusRaw()).stdout));
  const pid = device(s, name)?.listeners[0]?.pid;
  assert.ok(typeof pid === "number" && pidAlive(pid), `${name}'s listener pid ${String(pid)}`);
  return pid;
}

/** The cam (by MAC, its ipv6Suffix) and the printer (static address, derived suffix), each serving port 80. */
const ownDevices = (camSuffix: string): Record<string, JsonValue>[] => [
  { name: "cam", mac: DEVICE_MAC, ipv6: "own", ipv6Suffix: camSuffix, ports: [{ listen: 80, target: 80 }] },
  { name: "printer", address: PRINTER.address, ipv6: "own", ports: [{ listen: 80, target: 80 }] },
];

describe("own IPv6 addresses", () => {
  it(
    "an own address another program put on the interface is never served on: that device waits, the other serves",
    { timeout: 120_000 },
    async (t) => {
      const lab = await createLabFor(t);
      await staticHost(lab, "h1", "printer", PRINTER.mac, PRINTER.address, false);
      await lab.ipOk("gw", ["addr", "add", `${FOREIGN}/128`, "dev", "wan0", "nodad", "preferred_lft", "0"]);
      // The cam's suffix makes the foreign address.
      const config = await lab.writeConfig({
        device: undefined,
        ports: undefined,
        leases: [lab.leaseFile],
        devices: ownDevices("::81"),
      });
      const first = own("2001:db8:1");
      // `plan` shows the refusal before anything runs.
      const plan = await runOk(cliArgv(lab.ns.gw, ["plan", "--config", config]), { timeoutMs: 20_000 });
      assert.match(
        plan.stdout,
        /# device cam: .*own IPv6 2001:db8:1::81 on wan0 \(in use by something else: not added by sixgate\), 0 listeners: refused, not served/,
        plan.stdout,
      );
      const agent = lab.startAgent(config);
      const inUse = (s: AgentStatus) =>
        device(s, "cam")?.phase === "waiting" &&
        /own address 2001:db8:1::81 is in use by something else/.test(device(s, "cam")?.reason ?? "") &&
        device(s, "printer")?.phase === "serving";
      const s = await agent.waitStatus(inUse, "the cam refused, the printer serving");
      assert.deepEqual(device(s, "cam")?.listeners, [], "no listener of the cam");
      assert.equal(device(s, "cam")?.ipv6?.address ?? null, null);
      await waitFor(async () => (await answerer(lab, first.printer)) === "printer", {
        timeoutMs: 20_000,
        intervalMs: 200,
        message: () => "the printer answers",
      });
      const bound = (await lab.listeningTcp("gw")).map((l) => l.address);
      assert.ok(!bound.includes(`[${FOREIGN}]`), `nothing of ours listens on ${FOREIGN}: ${bound.join(" ")}`);
      assert.doesNotMatch(
        agent.tail(200),
        /is already on wan0 and was not added by sixgate/,
        "no add was tried",
      );
      assert.ok(inUse(await agent.status()), "still refused");
      // doctor fails the cam's own-address check, naming the address and why.
      const { report } = await runDoctor(lab, config);
      const check = checkOf(report, "cam/own-address");
      assert.equal(check.status, "fail", describeReport(report));
      assert.match(
        check.detail,
        /2001:db8:1::81 is on wan0 but sixgate did not add it .*in use by something else/,
      );
      assert.equal(checkOf(report, "printer/own-address").status, "ok", describeReport(report));
      // Left in place at the end.
      agent.stop("SIGTERM");
      const exit = await agent.waitExit(15_000);
      assert.equal(exit?.code, 0, agent.tail());
      const counts = await wanAddressCounts(lab);
      assert.equal(counts.get(`${FOREIGN}/128`), 1, "the foreign address stays");
      assert.equal(counts.has(`${first.printer}/128`), false, "ours went");
    },
  );

  it(
    "two devices serve port 80 from their own addresses, follow a renumbering, survive a restart, report a duplicate",
    { timeout: 300_000 },
    async (t) => {
      const lab = await createLabFor(t);
      await staticHost(lab, "h1", "printer", PRINTER.mac, PRINTER.address, false);
      await lab.ipOk("gw", ["addr", "add", `${FOREIGN}/128`, "dev", "wan0", "nodad", "preferred_lft", "0"]);
      // Every address change on wan0, to see what the restart did not do.
      lab.spawn("gw", ["ip", "-6", "monitor", "address"], "addr-monitor");
      const base = { device: undefined, ports: undefined, leases: [lab.leaseFile] };
      const config = await lab.writeConfig({ ...base, devices: ownDevices("::80") });
      const first = own("2001:db8:1");

      // `plan` shows each device's own address before anything runs.
      const plan = await runOk(cliArgv(lab.ns.gw, ["plan", "--config", config]), { timeoutMs: 20_000 });
      assert.match(
        plan.stdout,
        new RegExp(`# device cam: .*own IPv6 ${first.cam} on wan0 \\(absent\\)`),
        plan.stdout,
      );
      assert.match(
        plan.stdout,
        new RegExp(`# device printer: .*own IPv6 ${first.printer} on wan0`),
        plan.stdout,
      );

      let agent = lab.startAgent(config);
      await agent.waitStatus(bothServe(first), "both serving from their own addresses");
      await waitAnswers(lab, first);
      let counts = await wanAddressCounts(lab);
      assert.equal(counts.get(`${first.cam}/128`), 1, JSON.stringify([...counts]));
      assert.equal(counts.get(`${first.printer}/128`), 1);
      assert.equal(counts.get(`${FOREIGN}/128`), 1);
      const routes = (await lab.ipOk("gw", ["-6", "route", "show", "dev", "wan0"])).stdout;
      assert.doesNotMatch(routes, /::80|fc6b/, `no route of ours: ${routes}`);
      const recorded = JSON.parse(await readFile(join(lab.dir, "run", "addresses.json"), "utf8")) as unknown;
      assert.deepEqual(recorded, [
        { device: "cam", interface: "wan0", address: first.cam },
        { device: "printer", interface: "wan0", address: first.printer },
      ]);
      const text = await runOk(cliArgv(lab.ns.gw, ["status", "--config", config]), { timeoutMs: 10_000 });
      assert.match(text.stdout, new RegExp(`ipv6: +own ${first.cam} \\(valid\\)`), text.stdout);

      // A killed agent leaves its addresses; the next one adopts them: neither removed nor added again.
      const monitorBefore = lab.readLog("addr-monitor").length;
      agent.stop("SIGKILL");
      await agent.waitExit(5_000);
      agent = lab.startAgent(config);
      await agent.waitStatus(bothServe(first), "serving again after the restart");
      await waitAnswers(lab, first);
      const during = lab.readLog("addr-monitor").slice(monitorBefore);
      assert.doesNotMatch(
        during,
        /::80|fc6b/,
        `our addresses changed across the restart:\n${during}\n${agent.tail(80)}`,
      );
      assert.match(agent.tail(200), /adopted the addresses an earlier run added/);

      // Renumbering: the new prefix's addresses come, the listeners move, the old addresses go; the foreign stays.
      const second = own("2001:db8:2");
      // The client is on the new prefix too (its router would announce it).
      await lab.ipOk("cli", ["addr", "add", "2001:db8:2::ffff/64", "dev", "eth0", "nodad"]);
      await lab.renumberWan("2001:db8:2::1");
      await agent.waitStatus(bothServe(second), "both serving from the new prefix");
      await waitAnswers(lab, second);
      counts = await wanAddressCounts(lab);
      assert.equal(counts.has(`${first.cam}/128`), false, JSON.stringify([...counts]));
      assert.equal(counts.has(`${first.printer}/128`), false);
      assert.equal(counts.get(`${second.cam}/128`), 1);
      assert.equal(counts.get(`${second.printer}/128`), 1);
      assert.equal(counts.get(`${FOREIGN}/128`), 1, "the foreign address stays");
      assert.equal(await answerer(lab, first.cam), undefined, "nothing answers at the old address");

      // The WAN address moves within the same /64: the own addresses do not change, nor do their listeners.
      const pids = { cam: await listenerPid(agent, "cam"), printer: await listenerPid(agent, "printer") };
      await lab.renumberWan("2001:db8:2::2");
      await agent.waitStatus(
        (s) => s.wan.address === "2001:db8:2::2" && bothServe(second)(s),
        "new WAN address seen",
      );
      await waitAnswers(lab, second);
      assert.deepEqual(
        { cam: await listenerPid(agent, "cam"), printer: await listenerPid(agent, "printer") },
        pids,
        "a device whose address did not change is not touched",
      );

      // Another node of the WAN link holds the cam's next address: DAD fails, the cam alone is degraded.
      const taken = "2001:db8:2::90";
      // Deprecated: the client keeps its own source address for its requests.
      await lab.ipOk("cli", ["addr", "add", `${taken}/64`, "dev", "eth0", "nodad", "preferred_lft", "0"]);
      await lab.writeConfig({ ...base, devices: ownDevices("::90") });
      signalPid(agent.pid, "SIGHUP");
      const dup = await agent.waitStatus(
        (s) => device(s, "cam")?.ipv6?.state === "dadfailed" && device(s, "cam")?.phase === "degraded",
        "the cam's duplicate reported",
      );
      assert.match(device(dup, "cam")?.reason ?? "", /own address 2001:db8:2::90 is a duplicate/);
      assert.equal(device(dup, "printer")?.phase, "serving");
      assert.match(dup.reason ?? "", /cam: own address/);
      assert.equal(await answerer(lab, second.printer), "printer", "the printer serves on");
      counts = await wanAddressCounts(lab);
      assert.equal(counts.has(`${second.cam}/128`), false, "the cam's previous address went");

      // sixgate cleanup after a killed agent: ours go, the foreign one stays.
      agent.stop("SIGKILL");
      await agent.waitExit(5_000);
      await runOk(cliArgv(lab.ns.gw, ["cleanup", "--config", config]), { timeoutMs: 20_000 });
      counts = await wanAddressCounts(lab);
      assert.deepEqual(
        [...counts.keys()].filter((k) => k.endsWith("/128")),
        [`${FOREIGN}/128`],
        "only the foreign /128 is left after cleanup",
      );

      // SIGTERM: the same.
      await lab.writeConfig({ ...base, devices: ownDevices("::80") });
      agent = lab.startAgent(config);
      await agent.waitStatus(bothServe(second), "serving once more");
      agent.stop("SIGTERM");
      const exit = await agent.waitExit(15_000);
      assert.equal(exit?.code, 0, agent.tail());
      counts = await wanAddressCounts(lab);
      assert.deepEqual(
        [...counts.keys()].filter((k) => k.endsWith("/128")),
        [`${FOREIGN}/128`],
        "only the foreign /128 is left after SIGTERM",
      );
    },
  );
});
