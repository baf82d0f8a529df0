// Builders for core unit tests.
import { ConfigError, parseConfig } from "../../src/config/load.js";
import { configSchema, type Config } from "../../src/config/schema.js";
import type {
  AddrInfo,
  DevicePlan,
  Facts,
  LinkInfo,
  Lease,
  ListenerSpec,
  Plan,
} from "../../src/core/types.js";
import { initialFacts } from "../../src/core/facts.js";
import { chooseDevices } from "../../src/core/device.js";

export function makeConfig(overrides: Record<string, unknown> = {}): Config {
  return configSchema.parse({
    wan: { interface: "wan0" },
    lan: { interface: "lan0" },
    device: { leases: "/tmp/dhcp.leases" },
    ports: [
      { listen: 80, target: 80 },
      { listen: 2323, target: 23 },
    ],
    ...overrides,
  });
}

/** The problems parseConfig reports for a config file's text (none: it is valid). */
export function configProblems(text: string): string[] {
  try {
    parseConfig(text, "test.yaml");
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

export function addr(address: string, extra: Partial<AddrInfo> = {}): AddrInfo {
  const v6 = address.includes(":");
  return {
    family: v6 ? "inet6" : "inet",
    address,
    prefixlen: v6 ? 64 : 24,
    scope: "global",
    tentative: false,
    deprecated: false,
    temporary: false,
    dadfailed: false,
    ...extra,
  };
}

export function link(name: string, addresses: AddrInfo[], up = true): LinkInfo {
  return { name, up, addresses };
}

export function lease(mac: string, address: string, expires = 1000): Lease {
  return { mac, address, hostname: "dev", expires };
}

/** Facts of a healthy gateway: WAN and LAN up with addresses, one lease; the device as reduce() would learn it. */
export function healthyFacts(over: Partial<Facts> = {}, config: Config = makeConfig()): Facts {
  const facts: Facts = {
    ...initialFacts,
    links: {
      wan0: link("wan0", [addr("2001:db8:1::1"), addr("fe80::1", { scope: "link" })]),
      lan0: link("lan0", [addr("192.168.1.1")]),
    },
    wanAddress: "2001:db8:1::1",
    leases: [lease("02:00:00:00:01:00", "192.168.1.100")],
    ...over,
  };
  return over.devices === undefined
    ? { ...facts, devices: chooseDevices(facts, config.devices, config.lan.interface, {}) }
    : facts;
}

/** A listener as plan() makes it for the healthy gateway, with the default listener settings. */
export function listenerSpec(over: Partial<ListenerSpec> = {}): ListenerSpec {
  return {
    device: "device",
    listen: 80,
    target: 80,
    wanInterface: "wan0",
    wanAddress: "2001:db8:1::1",
    deviceAddress: "192.168.1.100",
    lanAddress: "192.168.1.1",
    lanInterface: "lan0",
    maxChildren: 64,
    backlog: 32,
    connectTimeoutSec: 5,
    keepaliveSec: 120,
    idleTimeoutSec: null,
    halfCloseSec: 30,
    ...over,
  };
}

/** The plan of the one device of a one-device config (throws when there is not exactly one). */
export function only(p: Plan): DevicePlan {
  const [first, ...rest] = p.devices;
  if (first === undefined || rest.length > 0) throw new Error(`expected one device, got ${p.devices.length}`);
  return first;
}
