// The default MQTT identity: unique per machine (fault 12), from /etc/machine-id or a factory MAC, hashed; an
// explicit baseTopic or nodeId is kept as is.
import assert from "node:assert/strict";
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { mqttConfigSchema, topicHostname } from "../../src/mqtt/config.js";
import { defaultNodeId, machineFingerprint, type FingerprintSources } from "../../src/mqtt/identity.js";
import { topicsFor } from "../../src/mqtt/topics.js";

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sixgate-identity-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fake machine: machine-id files and sysfs interfaces (`physical` ones have a `device` entry). */
async function machine(
  name: string,
  spec: { machineId?: string; ifaces?: { name: string; mac: string; physical: boolean }[] },
): Promise<FingerprintSources> {
  const root = join(dir, name);
  const net = join(root, "net");
  await mkdir(net, { recursive: true });
  const machineIdFile = join(root, "machine-id");
  if (spec.machineId !== undefined) await writeFile(machineIdFile, `${spec.machineId}\n`);
  for (const iface of spec.ifaces ?? []) {
    await mkdir(join(net, iface.name), { recursive: true });
    await writeFile(join(net, iface.name, "address"), `${iface.mac}\n`);
    if (iface.physical) await mkdir(join(net, iface.name, "device"));
  }
  return { machineIdFiles: [machineIdFile], netClassDir: net };
}

describe("mqtt identity", () => {
  test("two machines with the same host name get different node ids, each stable", async () => {
    const a = await machine("a", { machineId: "3d1219c7c4c5404aaa1f6d2a48adfda4" });
    const b = await machine("b", { machineId: "9b0e5a1c2d3f405e8f7a6b5c4d3e2f10" });
    const idA = defaultNodeId("openwrt", machineFingerprint(a));
    const idB = defaultNodeId("openwrt", machineFingerprint(b));
    assert.match(idA, /^openwrt-[0-9a-f]{8}$/);
    assert.notEqual(idA, idB);
    assert.equal(defaultNodeId("openwrt", machineFingerprint(a)), idA, "stable across starts");
    // Hashed: the machine id itself is never part of a topic.
    assert.ok(!idA.includes("3d1219c7"));
    assert.equal(machineFingerprint(a)?.source, a.machineIdFiles[0]);
  });

  test("without a machine-id (OpenWrt): the first physical interface's factory MAC", async () => {
    const ifaces = [
      { name: "br-lan", mac: "02:11:22:33:44:55", physical: false },
      { name: "eth1", mac: "a4:2b:b0:00:00:02", physical: true },
      { name: "eth0", mac: "a4:2b:b0:00:00:01", physical: true },
      { name: "lo", mac: "00:00:00:00:00:00", physical: false },
    ];
    const sources = await machine("mac", { ifaces });
    const fingerprint = machineFingerprint(sources);
    assert.equal(fingerprint?.source, "mac:eth0");
    const other = await machine("mac2", {
      ifaces: [{ name: "eth0", mac: "a4:2b:b0:00:00:09", physical: true }],
    });
    assert.notEqual(machineFingerprint(other)?.id, fingerprint.id);
    // A locally administered MAC (random, changes) is not a fingerprint; nor an empty or zero machine-id.
    const local = await machine("local", {
      machineId: "00000000000000000000000000000000",
      ifaces: [{ name: "eth0", mac: "06:00:00:00:00:01", physical: true }],
    });
    assert.equal(machineFingerprint(local), undefined);
    assert.equal(defaultNodeId("openwrt", undefined), "openwrt", "no fingerprint: the host name alone");
  });

  test("config: the default base topic is sixgate/<hostname>-<fingerprint>; explicit ones are kept", () => {
    const defaulted = mqttConfigSchema.parse({ url: "mqtt://b" });
    const fingerprint = machineFingerprint();
    assert.equal(defaulted.nodeId, defaultNodeId(topicHostname(), fingerprint));
    assert.equal(defaulted.baseTopic, `sixgate/${defaulted.nodeId}`);
    assert.equal(defaulted.identitySource, fingerprint?.source ?? "hostname");
    if (fingerprint !== undefined) assert.notEqual(defaulted.baseTopic, `sixgate/${topicHostname()}`);
    assert.equal(topicsFor(defaulted).deviceId, `sixgate_${defaulted.nodeId.replace(/\./g, "_")}`);

    const upgraded = mqttConfigSchema.parse({ url: "mqtt://b", baseTopic: "sixgate/openwrt" });
    assert.equal(upgraded.baseTopic, "sixgate/openwrt");
    assert.equal(upgraded.identitySource, "baseTopic");
    const named = mqttConfigSchema.parse({ url: "mqtt://b", nodeId: "gw-attic" });
    assert.equal(named.baseTopic, "sixgate/gw-attic");
    assert.equal(named.identitySource, "nodeId");
    const refused = mqttConfigSchema.safeParse({ url: "mqtt://b", nodeId: "a/b" });
    assert.equal(refused.success, false);
    assert.match(JSON.stringify(refused.error.issues), /nodeId|must be 1-64/);
  });
});
