// Where the device's address comes from, end to end: the built agent in the lab's gateway serves the device from
// an odhcpd state file (OpenWrt), from two lease files merged, and names a lease file it cannot read as the reason
// it waits. The lab's dnsmasq gives the device its address; the test writes the lease files the agent reads.
import assert from "node:assert/strict";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { DEFAULT_PORTS, DEVICE_MAC, createLabFor, waitServes, type Lab } from "./lab.js";
import { runDoctor, type DoctorReport } from "./doctor-helpers.js";

const TEST = { timeout: 90_000 };
const FIRST_LISTEN = DEFAULT_PORTS[0].listen;

/** A lease line as odhcpd writes it (openwrt/odhcpd src/statefiles.c): the MAC unpadded, the address twice. */
function odhcpdLine(iface: string, mac: string, address: string, validUntil: number): string {
  const unpadded = mac
    .split(":")
    .map((b) => b.replace(/^0(?=.)/, ""))
    .join(":");
  const hex = address
    .split(".")
    .reduce((n, octet) => n * 256 + Number(octet), 0)
    .toString(16);
  return `# ${iface} ${unpadded} ipv4 sixgate-device ${validUntil} ${hex} 32 ${address}/32\n`;
}

/** Writes `text` to a temporary name and renames it over `file`, as odhcpd does. */
async function replaceFile(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

async function deviceAddress(lab: Lab): Promise<string> {
  const address = await lab.deviceAddress();
  assert.ok(address !== undefined, "the lab's device has no address");
  return address;
}

/** Doctor's lease-files check. */
function leaseFilesCheck(report: DoctorReport): { status: string; detail: string } {
  const check = report.checks.find((c) => c.id === "lease-files");
  assert.ok(check !== undefined, "doctor has no lease-files check");
  return { status: check.status, detail: check.detail };
}

const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

describe("lease files", () => {
  it(
    "odhcpd's state file (device.leases, no MAC): the device is the one lease on the LAN, a guest-pool lease aside",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      const address = await deviceAddress(lab);
      await mkdir(join(lab.dir, "hosts"));
      const file = join(lab.dir, "hosts", "odhcpd");
      await writeFile(
        file,
        "# lan0 000100012c5b7f1a020000000100 1a2b3c4d sixgate-device 1767225600 64 128 fd00::64/128\n" +
          odhcpdLine("lan0", DEVICE_MAC, address, -1) +
          odhcpdLine("guest0", "02:00:00:00:02:00", "192.168.2.50", inAnHour()),
      );
      const config = await lab.writeConfig({ device: { mac: undefined, leases: file } }, "odhcpd.yaml");
      const agent = lab.startAgent(config);
      const status = await agent.waitPhase("serving", 20_000);
      assert.deepEqual(status.device, { mac: DEVICE_MAC, address, source: "lease-single" });
      await waitServes(lab, agent, FIRST_LISTEN, lab.wanAddress, 5_000);
    },
  );

  it(
    "two files merged (dnsmasq and odhcpd): served from the odhcpd one, then from the dnsmasq one when the lease moves",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      const address = await deviceAddress(lab);
      await mkdir(join(lab.dir, "merged", "hosts"), { recursive: true });
      const dnsmasq = join(lab.dir, "merged", "dhcp.leases");
      const odhcpd = join(lab.dir, "merged", "hosts", "odhcpd");
      // No MAC: the device is the one lease on the LAN among both files. dnsmasq's knows only a guest-pool phone.
      const phone = `${inAnHour()} 02:00:00:00:02:00 192.168.2.49 phone *\n`;
      await writeFile(dnsmasq, phone);
      await writeFile(odhcpd, odhcpdLine("lan0", DEVICE_MAC, address, inAnHour()));
      const config = await lab.writeConfig(
        { device: { mac: undefined, leases: undefined }, leases: [dnsmasq, odhcpd] },
        "merged.yaml",
      );
      const agent = lab.startAgent(config);
      const status = await agent.waitPhase("serving", 20_000);
      assert.deepEqual(status.device, { mac: DEVICE_MAC, address, source: "lease-single" });
      await waitServes(lab, agent, FIRST_LISTEN, lab.wanAddress, 5_000);
      assert.deepEqual(leaseFilesCheck((await runDoctor(lab, config)).report), {
        status: "ok",
        detail: `lease file ${dnsmasq}: dnsmasq, 1 lease; lease file ${odhcpd}: odhcpd, 1 lease`,
      });

      // The device moves to another address, its lease from odhcpd's file to dnsmasq's.
      const moved = address === "192.168.1.140" ? "192.168.1.141" : "192.168.1.140";
      await lab.newDeviceLease(moved);
      await replaceFile(dnsmasq, `${phone}0 ${DEVICE_MAC} ${moved} sixgate-device *\n`);
      await replaceFile(odhcpd, "");
      await agent.waitPhase("serving", 20_000, (s) => s.device.address === moved);
      await waitServes(lab, agent, FIRST_LISTEN, lab.wanAddress, 10_000);
    },
  );

  it(
    "a lease file in a format we do not read: the agent waits, naming the file, not 'no lease'",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      const file = join(lab.dir, "dhcpd.leases");
      // ISC dhcpd's lease file, which names the device: the lease may be in there, but sixgate cannot read it.
      await writeFile(
        file,
        `lease ${await deviceAddress(lab)} {\n  hardware ethernet ${DEVICE_MAC};\n  binding state active;\n}\n`,
      );
      // No MAC: with one, the device would be found in the neighbour table whatever the file says.
      const config = await lab.writeConfig({ device: { mac: undefined, leases: file } }, "unknown.yaml");
      const agent = lab.startAgent(config);
      const status = await agent.waitPhase("waiting", 20_000, (s) => s.waitingFor === "device");
      const reason = `lease file ${file}: unrecognised format (neither dnsmasq nor odhcpd)`;
      assert.equal(status.reason, reason);
      const { report } = await runDoctor(lab, config);
      assert.deepEqual(leaseFilesCheck(report), { status: "fail", detail: reason });
      const device = report.checks.find((c) => c.id === "device");
      assert.equal(device?.detail, `device address unknown: ${reason} (lease file ${file})`);
    },
  );
});
