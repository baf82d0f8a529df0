// Who this gateway is on MQTT by default: `<hostname>-<8 hex of a machine fingerprint>`, so two gateways with a stock
// host name (OpenWrt) never share a base topic, a Home Assistant device or a command topic. The fingerprint is
// /etc/machine-id (systemd, or /var/lib/dbus/machine-id), else the lowest-named physical network interface's
// factory MAC address (OpenWrt has no machine-id); it is hashed with sixgate's own key, never published as is.
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { sha256Hex } from "./sha256.js";

/** Where the fingerprint is looked for; tests point these into a temporary directory. */
export interface FingerprintSources {
  machineIdFiles: readonly string[];
  /** sysfs network class directory: `<dir>/<iface>/address`, `<dir>/<iface>/device` for physical ones. */
  netClassDir: string;
}

export const SYSTEM_SOURCES: FingerprintSources = {
  machineIdFiles: ["/etc/machine-id", "/var/lib/dbus/machine-id"],
  netClassDir: "/sys/class/net",
};

export interface MachineFingerprint {
  /** 8 hex digits: a sixgate-specific hash of the source, stable for the machine. */
  id: string;
  /** Where it came from, for logs and docs: a file path, or `mac:<iface>`. */
  source: string;
}

function readTrimmed(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** A factory MAC: not all zeros, not locally administered (bit 1 of the first octet), not multicast. */
function isFactoryMac(mac: string): boolean {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac) || mac === "00:00:00:00:00:00") return false;
  const first = parseInt(mac.slice(0, 2), 16);
  return (first & 0x03) === 0;
}

/** Keyed like systemd's sd_id128_get_machine_app_specific: the raw id never leaves the machine. */
function hashed(value: string): string {
  // SHA-256 in JavaScript, not node:crypto: this module is part of the config schema, which every command loads,
  // and loading node:crypto costs about 4 MiB of RSS (bench/idle-memory.ts) that MQTT over mqtt:// does not need.
  return sha256Hex(`sixgate-mqtt-identity:${value}`).slice(0, 8);
}

/** The machine's fingerprint, or undefined when no source exists (then the host name alone is the identity). */
export function machineFingerprint(
  sources: FingerprintSources = SYSTEM_SOURCES,
): MachineFingerprint | undefined {
  for (const file of sources.machineIdFiles) {
    const id = readTrimmed(file)?.toLowerCase();
    if (id !== undefined && /^[0-9a-f]{32}$/.test(id) && !/^0+$/.test(id))
      return { id: hashed(id), source: file };
  }
  let names: string[];
  try {
    names = readdirSync(sources.netClassDir).sort();
  } catch {
    return undefined;
  }
  for (const name of names) {
    if (!existsSync(join(sources.netClassDir, name, "device"))) continue; // virtual: bridges, veths, tunnels
    const mac = readTrimmed(join(sources.netClassDir, name, "address"))?.toLowerCase();
    if (mac !== undefined && isFactoryMac(mac)) return { id: hashed(mac), source: `mac:${name}` };
  }
  return undefined;
}

/** `openwrt` + fingerprint `3fa2c91b` -> `openwrt-3fa2c91b`; the host name alone without a fingerprint. */
export function defaultNodeId(hostname: string, fingerprint: MachineFingerprint | undefined): string {
  return fingerprint === undefined ? hostname : `${hostname}-${fingerprint.id}`;
}
