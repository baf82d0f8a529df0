// An Agent wired to fake adapters and Subject-backed sources, with its log lines captured.
import assert from "node:assert/strict";
import { Subject } from "rxjs";
import { Agent } from "../../src/agent.js";
import type { Event, LinkInfo } from "../../src/core/types.js";
import { FakeAddresses, FakeFirewall, FakeListeners } from "../fakes/adapters.js";
import { addr, lease, link, makeConfig } from "./fixtures.js";
import { recordingLogger } from "../hotplug/helpers.js";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (bounded) until check() holds; fails the test naming `what` otherwise. */
export async function until(check: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

export interface HarnessOptions {
  debounceMs?: number;
  probeOk?: () => boolean | Promise<boolean>;
  /** The hop the fake probe reports; "device" (default): a failure makes the device unreachable after two. */
  probeHop?: "device" | "end-to-end";
  config?: Record<string, unknown>;
  firewall?: FakeFirewall;
  addresses?: FakeAddresses;
  /** Hints that the firewall changed behind the agent's back (the nft watch). */
  firewallChanges?: Subject<void>;
  /** The neighbour table's events (a device found by MAC alone); none without. */
  neighbours?: Subject<Event>;
}

export function setup(options: HarnessOptions = {}) {
  const { debounceMs = 50, probeOk = () => true } = options;
  const links = new Subject<Event>();
  const leases = new Subject<Event>();
  const firewall = options.firewall ?? new FakeFirewall();
  const listeners = new FakeListeners();
  const addresses = options.addresses ?? new FakeAddresses();
  const { log, records: lines } = recordingLogger();
  const agent = new Agent({
    config: makeConfig({ debounceMs, ...options.config }),
    log,
    firewall,
    listeners,
    addresses,
    links,
    leases: () => leases,
    firewallChanges: options.firewallChanges,
    ...(options.neighbours === undefined ? {} : { neighbours: () => options.neighbours ?? links }),
    version: "test",
    probe: async () => {
      const ok = await probeOk();
      const results = [
        {
          device: "device",
          hop: options.probeHop ?? "device",
          listen: 80,
          target: 80,
          ok,
          ms: 1,
          error: ok ? null : "ECONNREFUSED",
        },
      ];
      return { at: new Date().toISOString(), ok, results };
    },
  });
  agent.start();
  const lan = link("lan0", [addr("192.168.1.1")]);
  const snapshot = (wan: LinkInfo) => links.next({ type: "links", links: [wan, lan] });
  /** The lab's healthy gateway: one WAN address, one lease for the device. */
  const healthy = () => {
    snapshot(link("wan0", [addr("2001:db8:1::1")]));
    leases.next({ type: "leases", leases: [lease("02:00:00:00:01:00", "192.168.1.100")] });
  };
  return { agent, links, leases, firewall, listeners, addresses, snapshot, healthy, lan, lines };
}

/** Config overrides for two devices: cam found by MAC (8080 -> 80), plc at a configured address (5020 -> 502). */
export const twoDevices = {
  device: undefined,
  ports: undefined,
  devices: [
    { name: "cam", mac: "02:00:00:00:01:00", ports: [{ listen: 8080, target: 80 }] },
    { name: "plc", address: "192.168.1.50", ports: [{ listen: 5020, target: 502 }] },
  ],
};
