// plan(facts, config) -> the desired state and, if incomplete, what it waits for.
import { compareIPv4, sameIPv4Subnet } from "./addr.js";
import { wanAddressInterface } from "./facts.js";
import type { Config, Facts, LinkInfo, ListenerSpec, Plan, SnatRule } from "./types.js";

/** The gateway's LAN IPv4: the configured literal, else the address whose subnet holds the device, else the first. */
export function chooseLanAddress(
  lan: LinkInfo | undefined,
  config: Config,
  device: string | undefined,
): string | undefined {
  if (lan === undefined) return undefined;
  const v4 = lan.addresses.filter((a) => a.family === "inet" && !a.tentative);
  if (config.lan.address !== "auto") {
    const wanted = config.lan.address;
    return v4.some((a) => a.address === wanted) ? wanted : undefined;
  }
  const inSubnet =
    device === undefined ? undefined : v4.find((a) => sameIPv4Subnet(a.address, device, a.prefixlen));
  const sorted = [...v4].sort((a, b) => compareIPv4(a.address, b.address));
  return (inSubnet ?? sorted[0])?.address;
}

const EMPTY = { snat: null, listeners: [] };

/** Why a link that is up is treated as down (held for flapping, see damping.ts), or undefined. */
function held(facts: Facts, config: Config, name: string): string | undefined {
  const f = facts.flaps[name];
  if (f?.heldDown !== true) return undefined;
  return `${name} is flapping (${f.flaps} flaps): held down until steady for ${config.flapDamping.holdSec} s`;
}

export function plan(facts: Facts, config: Config): Plan {
  const device = facts.device;
  const deviceInfo = { mac: device.mac, address: device.address, source: device.source };
  const links = facts.links ?? {};
  const lan = links[config.lan.interface];
  const wan = links[config.wan.interface];
  const lanAddress = chooseLanAddress(lan, config, device.address);
  const ports = facts.ports ?? config.ports;
  const waiting = (waitingFor: Plan["waitingFor"], detail: string, snat: SnatRule | null = null): Plan => ({
    desired: { snat, listeners: [] },
    waitingFor,
    detail,
    lanAddress,
    device: deviceInfo,
  });

  if (!facts.enabled)
    return { desired: EMPTY, waitingFor: undefined, detail: "disabled", lanAddress, device: deviceInfo };
  if (lan === undefined || !lan.up) return waiting("lan-link", `${config.lan.interface} is missing or down`);
  const flapping = held(facts, config, config.lan.interface);
  if (flapping !== undefined) return waiting("lan-link", flapping);
  if (lanAddress === undefined) return waiting("lan-address", `no IPv4 address on ${config.lan.interface}`);
  if (device.address === undefined) return waiting("device", device.detail ?? "device unknown");

  // SNAT depends only on the LAN side, so a WAN flap never churns the firewall.
  const snat: SnatRule = {
    lanInterface: config.lan.interface,
    lanAddress,
    deviceAddress: device.address,
    ports: [...new Set(ports.map((p) => p.target))].sort((a, b) => a - b),
  };
  if (wan === undefined || !wan.up)
    return waiting("wan-link", `${config.wan.interface} is missing or has no carrier`, snat);
  const wanFlapping = held(facts, config, config.wan.interface);
  if (wanFlapping !== undefined) return waiting("wan-link", wanFlapping, snat);
  // The listen address's own interface (wan.addressFrom) bouncing would move the listeners at each bounce.
  const sourceFlapping = held(facts, config, wanAddressInterface(config));
  if (sourceFlapping !== undefined) return waiting("wan-address", sourceFlapping, snat);
  if (facts.wanAddress === undefined) {
    const what = config.wan.address === "auto" ? "a usable global IPv6 address" : config.wan.address;
    return waiting("wan-address", `waiting for ${what} on ${wanAddressInterface(config)}`, snat);
  }
  const wanAddress = facts.wanAddress;
  const listeners: ListenerSpec[] = ports
    .map((p) => ({
      listen: p.listen,
      target: p.target,
      wanInterface: config.wan.interface,
      wanAddress,
      deviceAddress: snat.deviceAddress,
      lanAddress,
      lanInterface: config.lan.interface,
      maxChildren: config.listener.maxChildren,
      backlog: config.listener.backlog,
      connectTimeoutSec: config.listener.connectTimeoutSec,
      keepaliveSec: config.listener.keepaliveSec,
      idleTimeoutSec: config.listener.idleTimeoutSec ?? null,
      halfCloseSec: config.listener.halfCloseSec,
    }))
    .sort((a, b) => a.listen - b.listen);
  return {
    desired: { snat, listeners },
    waitingFor: undefined,
    detail: undefined,
    lanAddress,
    device: deviceInfo,
  };
}
