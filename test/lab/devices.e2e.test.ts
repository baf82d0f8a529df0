// Several devices behind one gateway (issue 8), with the real agent, dnsmasq + udhcpc, the kernel's neighbour table,
// socat and nft in the lab's namespaces. One LAN, four devices in one `devices:` config:
//   cam      by MAC, from its dnsmasq lease (the lab's own device, udhcpc in the dev namespace)
//   nas      by MAC, a static address and no lease: found in the neighbour table once it talks
//   plc      by its configured address
//   printer  by MAC, from a line in an odhcpd-format lease file the test writes (listed after dnsmasq's file)
// The extra hosts are macvlans of the device namespace's link (Lab.addLanHost), each with its own MAC and httpd.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  DEVICE_MAC,
  LAN_ADDRESS,
  cliArgv,
  createLabFor,
  pidAlive,
  runOk,
  signalPid,
  waitFor,
  type AgentProcess,
  type AgentStatus,
  type JsonValue,
  type Lab,
} from "./lab.js";
import { staticHost } from "./hosts.js";

const NAS = { mac: "02:00:00:00:02:00", address: "192.168.1.60" } as const;
const PLC = { mac: "02:00:00:00:03:00", address: "192.168.1.80" } as const;
// odhcpd writes the MAC unpadded (ether_ntoa), which is what the parser must read.
const PRINTER = { mac: "02:00:00:00:04:00", odhcpdMac: "2:0:0:0:4:0", address: "192.168.1.70" } as const;

interface Expected {
  name: string;
  listen: number;
  target: number;
  /** The marker of the host that must answer ("" = the lab's own device, whose answer has none). */
  host: string;
}

const CAM_PORTS = [
  { listen: 8080, target: 80 },
  { listen: 8023, target: 23 },
];
const ANSWERS: Expected[] = [
  { name: "cam", listen: 8080, target: 80, host: "" },
  { name: "cam", listen: 8023, target: 23, host: "" },
  { name: "nas", listen: 8180, target: 80, host: "nas" },
  { name: "plc", listen: 8280, target: 80, host: "plc" },
  { name: "printer", listen: 8380, target: 80, host: "printer" },
];

/** True when a client's request to [wan]:listen reached the expected device port through the gateway's LAN address. */
async function answered(lab: Lab, e: Expected): Promise<boolean> {
  const r = await lab.curl6(e.listen, lab.wanAddress, { connectTimeoutS: 1, maxTimeS: 2 });
  const host = /host=(\S+)/.exec(r.body)?.[1] ?? "";
  return r.ok && r.answer?.port === e.target && r.answer.remote === LAN_ADDRESS && host === e.host;
}

async function waitAnswered(
  lab: Lab,
  agent: AgentProcess,
  expected: readonly Expected[],
  timeoutMs = 30_000,
) {
  let missing: string[] = [];
  await waitFor(
    async () => {
      const results = await Promise.all(expected.map((e) => answered(lab, e)));
      missing = expected.filter((_, i) => !results[i]).map((e) => `${e.name}:${e.listen}`);
      return missing.length === 0;
    },
    { timeoutMs, intervalMs: 200, message: () => `not answered: ${missing.join(", ")}\n${agent.tail()}` },
  );
}

/** Each device's listener pids by "device/listen", from `sixgate status --json`. */
function listenerPids(status: AgentStatus): Map<string, number | null | undefined> {
  const out = new Map<string, number | null | undefined>();
  for (const d of devicesOf(status)) for (const l of d.listeners) out.set(`${d.name}/${l.listen}`, l.pid);
  return out;
}

/** status.devices, required here. */
function devicesOf(status: AgentStatus): NonNullable<AgentStatus["devices"]> {
  if (status.devices === undefined) throw new Error("the status has no devices[]");
  return status.devices;
}

const device = (s: AgentStatus, name: string) => devicesOf(s).find((d) => d.name === name);
const serving = (s: AgentStatus, names: readonly string[]) =>
  names.every((n) => device(s, n)?.phase === "serving");

/** The SNAT rules in our nft table: one "ip daddr X" per rule. */
async function snatDestinations(lab: Lab): Promise<string[]> {
  const table = (await lab.nftTable("ip", "sixgate")) ?? "";
  return [...table.matchAll(/ip daddr (\S+) .*snat to/g)].map((m) => m[1] ?? "");
}

describe("several devices behind one gateway", () => {
  it(
    "serves a leased, a static, a configured and an odhcpd-leased device, each followed or reported on its own",
    { timeout: 300_000 },
    async (t) => {
      let mark = Date.now();
      const took = (what: string) => {
        t.diagnostic(`${what}: ${String(Date.now() - mark)} ms`);
        mark = Date.now();
      };
      const lab = await createLabFor(t);
      const nasNs = await staticHost(lab, "h1", "nas", NAS.mac, NAS.address, true);
      await staticHost(lab, "h2", "plc", PLC.mac, PLC.address, false);
      await staticHost(lab, "h3", "printer", PRINTER.mac, PRINTER.address, false);
      const odhcpd = join(lab.dir, "odhcpd");
      const expiry = Math.floor(Date.now() / 1000) + 3600;
      const hex = PRINTER.address
        .split(".")
        .map((o) => Number(o).toString(16).padStart(2, "0"))
        .join("");
      await writeFile(
        odhcpd,
        `# lan0 ${PRINTER.odhcpdMac} ipv4 printer ${String(expiry)} ${hex} 32 ${PRINTER.address}/32\n`,
      );
      assert.ok(
        (await lab.leases()).every((l) => l.mac !== NAS.mac),
        "the nas has no lease",
      );

      const devices: Record<string, JsonValue>[] = [
        { name: "cam", mac: DEVICE_MAC, ports: CAM_PORTS },
        { name: "nas", mac: NAS.mac, ports: [{ listen: 8180, target: 80 }] },
        { name: "plc", address: PLC.address, ports: [{ listen: 8280, target: 80 }] },
        { name: "printer", mac: PRINTER.mac, ports: [{ listen: 8380, target: 80 }] },
      ];
      const base = {
        device: undefined,
        ports: undefined,
        leases: [lab.leaseFile, odhcpd],
        // Probes every 2 s: what finds the unplugged device (its listener still runs).
        health: { schedule: "*/2 * * * * *", timeoutMs: 1000 },
      };
      const config = await lab.writeConfig({ ...base, devices });
      took("lab and hosts set up");
      const agent = lab.startAgent(config);

      // Each device on its own listen ports, from where its address came from.
      await waitAnswered(lab, agent, ANSWERS, 45_000);
      const first = await agent.waitStatus(
        (s) => s.phase === "serving" && serving(s, ["cam", "nas", "plc", "printer"]),
        "every device serving",
      );
      took("every device served");
      const sources = Object.fromEntries(devicesOf(first).map((d) => [d.name, [d.address, d.source]]));
      const camAddress = await lab.deviceAddress();
      assert.deepEqual(sources, {
        cam: [camAddress, "lease-mac"],
        nas: [NAS.address, "neighbour"],
        plc: [PLC.address, "config"],
        printer: [PRINTER.address, "lease-mac"],
      });
      assert.deepEqual(
        (await snatDestinations(lab)).sort(),
        [camAddress, NAS.address, PLC.address, PRINTER.address].sort(),
        "one SNAT rule per device",
      );
      const text = await runOk(cliArgv(lab.ns.gw, ["status", "--config", config]), { timeoutMs: 10_000 });
      for (const name of ["cam", "nas", "plc", "printer"])
        assert.match(text.stdout, new RegExp(`^device ${name}: serving$`, "m"), text.stdout);

      // The cam re-leases to a new address: followed; nobody else's listener is restarted.
      const before = listenerPids(first);
      assert.equal(before.size, 5, JSON.stringify([...before]));
      for (const pid of before.values()) assert.ok(typeof pid === "number" && pidAlive(pid), String(pid));
      const newAddress = camAddress === "192.168.1.120" ? "192.168.1.121" : "192.168.1.120";
      await lab.newDeviceLease(newAddress);
      await waitAnswered(lab, agent, ANSWERS);
      const released = await agent.waitStatus(
        (s) => device(s, "cam")?.address === newAddress && serving(s, ["cam", "nas", "plc", "printer"]),
        `cam followed to ${newAddress}`,
      );
      took("the re-leased cam followed");
      const afterLease = listenerPids(released);
      for (const key of ["nas/8180", "plc/8280", "printer/8380"])
        assert.equal(afterLease.get(key), before.get(key), `${key} kept its socat`);
      assert.deepEqual(
        (await snatDestinations(lab)).sort(),
        [newAddress, NAS.address, PLC.address, PRINTER.address].sort(),
        "the cam's rule moved with it, still one per device",
      );

      // The nas's cable is pulled: it alone is reported down, the others keep serving.
      await runOk(["ip", "-n", nasNs, "link", "set", "eth0", "down"]);
      const down = await agent.waitStatus((s) => {
        const nas = device(s, "nas");
        return (
          s.phase === "degraded" &&
          nas !== undefined &&
          nas.phase !== "serving" &&
          nas.phase !== "converging" &&
          nas.reason !== null
        );
      }, "the nas reported down");
      took("the unplugged nas reported");
      t.diagnostic(
        `nas: ${JSON.stringify(device(down, "nas"))}; agent: ${down.phase} ${String(down.reason)}`,
      );
      assert.equal(down.phase, "degraded");
      assert.match(down.reason ?? "", /\bnas: /);
      assert.doesNotMatch(down.reason ?? "", /\b(cam|plc|printer): /);
      assert.ok(serving(down, ["cam", "plc", "printer"]), JSON.stringify(devicesOf(down)));
      await waitAnswered(
        lab,
        agent,
        ANSWERS.filter((e) => e.name !== "nas"),
        5_000,
      );
      assert.equal(await answered(lab, ANSWERS[2] as Expected), false, "the unplugged nas does not answer");

      // After two failed probes in a row the unplugged nas's listener is left out (a client is refused at once,
      // core/plan.ts UNREACHABLE_AFTER); the others' stay.
      const settled = await agent.waitStatus(
        (s) => device(s, "nas")?.listeners.length === 0 && serving(s, ["cam", "plc", "printer"]),
        "the unreachable nas's listener left out",
      );
      assert.match(device(settled, "nas")?.reason ?? "", /unreachable/);

      // A reload that removes the printer and adds a tv (the printer's host, by address): only those change.
      const beforeReload = listenerPids(settled);
      for (const key of ["cam/8080", "cam/8023", "plc/8280"])
        assert.equal(beforeReload.get(key), afterLease.get(key), key);
      const printerPid = beforeReload.get("printer/8380");
      const tv = { name: "tv", address: PRINTER.address, ports: [{ listen: 8480, target: 80 }] };
      await lab.writeConfig({ ...base, devices: [...devices.filter((d) => d.name !== "printer"), tv] });
      signalPid(agent.pid, "SIGHUP");
      const reloaded = await agent.waitStatus(
        (s) =>
          devicesOf(s)
            .map((d) => d.name)
            .join() === "cam,nas,plc,tv" && serving(s, ["cam", "plc", "tv"]),
        "reloaded: printer gone, tv serving",
      );
      await waitAnswered(lab, agent, [
        ...ANSWERS.filter((e) => e.name === "cam" || e.name === "plc"),
        { name: "tv", listen: 8480, target: 80, host: "printer" },
      ]);
      took("reloaded");
      const afterReload = listenerPids(reloaded);
      assert.equal(afterReload.has("nas/8180"), false, "the unreachable nas stays left out");
      for (const key of ["cam/8080", "cam/8023", "plc/8280"])
        assert.equal(afterReload.get(key), beforeReload.get(key), `${key} kept its socat across the reload`);
      assert.equal(afterReload.has("printer/8380"), false);
      assert.ok(typeof printerPid === "number");
      await waitFor(() => !pidAlive(printerPid), {
        timeoutMs: 5_000,
        message: () => "the printer's socat stays",
      });
      assert.equal((await lab.curl6(8380, lab.wanAddress, { connectTimeoutS: 1, maxTimeS: 2 })).ok, false);
      assert.deepEqual(
        (await snatDestinations(lab)).sort(),
        [newAddress, NAS.address, PLC.address, PRINTER.address].sort(),
        "one rule per device after the reload (the tv at the printer's old address)",
      );
      assert.ok(agent.running, agent.tail());
    },
  );
});
