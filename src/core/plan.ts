// plan(facts, config) -> the desired state and, if incomplete, what it waits for.
import { compareIPv4, sameIPv4Subnet } from "./addr.js";
import { wanAddressInterface } from "./facts.js";
import { unknownDevice } from "./device.js";
import { expandPorts, isRange } from "./ports.js";
import {
  isGatewaysAddress,
  isRecorded,
  ownAddressState,
  ownSuffixes,
  prefixProblem,
  withInterfaceId,
} from "./own-address.js";
import {
  choicesOf,
  compareByDevice,
  compareListeners,
  type Config,
  type DeviceConfig,
  type DevicePlan,
  type Facts,
  type LinkInfo,
  type ListenerSpec,
  type OwnAddress,
  type Plan,
  type SnatRule,
  type WaitingFor,
} from "./types.js";

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

/** Why a link that is up is treated as down (held for flapping, see damping.ts), or undefined. */
function held(facts: Facts, config: Config, name: string): string | undefined {
  const f = facts.flaps[name];
  if (f?.heldDown !== true) return undefined;
  return `${name} is flapping (${f.flaps} flaps): held down until steady for ${config.flapDamping.holdSec} s`;
}

/**
 * Failed probes in a row (every device hop of the device failed in each) after which its listeners are left out, so
 * a new connection is refused at once (nothing listens: the kernel answers RST) instead of accepted and dropped. Two,
 * because one probe can fail on its own (a reboot's first second, a lost SYN and its retry); the agent takes the
 * second probe at once after the first (agent.ts probeNow), so two cost no extra tick.
 */
export const UNREACHABLE_AFTER = 2;

/** The interface on which `address` is one of the gateway's own IPv4 addresses, or undefined. */
function gatewayInterfaceOf(facts: Facts, address: string): string | undefined {
  return Object.values(facts.links ?? {}).find((l) =>
    l.addresses.some((a) => a.family === "inet" && a.address === address),
  )?.name;
}

/** Why the device's listeners are left out, or undefined while it is not known unreachable at `address`. */
function unreachable(facts: Facts, device: string, address: string): string | undefined {
  const reach = facts.unreachable[device];
  if (reach === undefined || reach.address !== address || reach.failedProbes < UNREACHABLE_AFTER)
    return undefined;
  return `unreachable: refusing connections (${reach.error})`;
}

/** What the gateway itself lacks (a link, an address): every device waits for it. */
interface GatewayWait {
  waitingFor: WaitingFor;
  detail: string;
  /** SNAT depends only on the LAN side, so a WAN flap never churns the firewall: the rules stay while the WAN waits. */
  keepsSnat: boolean;
}

function gatewayWait(facts: Facts, config: Config, lanAddress: string | undefined): GatewayWait | undefined {
  const links = facts.links ?? {};
  const lan = links[config.lan.interface];
  const wan = links[config.wan.interface];
  const wait = (waitingFor: WaitingFor, detail: string, keepsSnat = false) => ({
    waitingFor,
    detail,
    keepsSnat,
  });
  if (lan === undefined || !lan.up) return wait("lan-link", `${config.lan.interface} is missing or down`);
  const flapping = held(facts, config, config.lan.interface);
  if (flapping !== undefined) return wait("lan-link", flapping);
  if (lanAddress === undefined) return wait("lan-address", `no IPv4 address on ${config.lan.interface}`);
  if (wan === undefined || !wan.up)
    return wait("wan-link", `${config.wan.interface} is missing or has no carrier`, true);
  const wanFlapping = held(facts, config, config.wan.interface);
  if (wanFlapping !== undefined) return wait("wan-link", wanFlapping, true);
  // The listen address's own interface (wan.addressFrom) bouncing would move the listeners at each bounce.
  const sourceFlapping = held(facts, config, wanAddressInterface(config));
  if (sourceFlapping !== undefined) return wait("wan-address", sourceFlapping, true);
  if (facts.wanAddress === undefined) {
    const what = config.wan.address === "auto" ? "a usable global IPv6 address" : config.wan.address;
    return wait("wan-address", `waiting for ${what} on ${wanAddressInterface(config)}`, true);
  }
  return undefined;
}

/** Where a device's listeners bind: the WAN address, or its own address once the kernel says it is usable. */
interface ListenPlace {
  listenAddress: string | undefined;
  ownAddress?: DevicePlan["ownAddress"];
  /** Why it has no listen address yet (its own address cannot be made, is being added or in DAD, is another's). */
  waiting?: string;
  refusedAddress?: DevicePlan["refusedAddress"];
}

/**
 * The listen address of a device with the WAN address `wan` in use: the WAN address itself (shared), or its own,
 * made of the /64 prefix of `wan` and its suffix, usable once DAD passed. A failed DAD keeps the address (removing it
 * would only start DAD again) and leaves the listeners out; the device's phase names the duplicate (phase.ts). An
 * address on the interface that sixgate's record does not hold is not ours: neither wanted nor served on.
 */
function listenPlace(
  facts: Facts,
  config: Config,
  device: DeviceConfig,
  wan: string,
  suffix: bigint | undefined,
): ListenPlace {
  if (device.ipv6 !== "own") return { listenAddress: wan };
  const iface = wanAddressInterface(config);
  const link = facts.links?.[iface];
  const tooLong = prefixProblem(link, wan);
  if (tooLong !== undefined) return { listenAddress: undefined, waiting: tooLong };
  const address = suffix === undefined ? undefined : withInterfaceId(wan, suffix);
  if (address === undefined) return { listenAddress: undefined, waiting: "no interface identifier" };
  if (address === wan || isGatewaysAddress(link, address))
    return {
      listenAddress: undefined,
      waiting: `own address ${address} is the gateway's own address on ${iface}: choose another ipv6Suffix`,
    };
  const state = ownAddressState(link, address);
  // On the interface but not recorded as ours: another program's (or an operator's) address. Never served on, never
  // taken over or removed (effects/addresses.ts refuses it too): the device waits until it is gone.
  const ours = state === "absent" ? true : isRecorded(facts.recordedAddresses, iface, address);
  if (ours === undefined)
    return {
      listenAddress: undefined,
      waiting: `own address ${address} is on ${iface}, and the record of the addresses sixgate added is not read (yet)`,
    };
  if (!ours)
    return {
      listenAddress: undefined,
      refusedAddress: { address, interface: iface },
      waiting: `own address ${address} is in use by something else: it is on ${iface} and sixgate did not add it (not in its record); remove it there, or set another ipv6Suffix for ${device.name}`,
    };
  const ownAddress = { address, interface: iface, state };
  if (state === "valid" || state === "dadfailed")
    return { listenAddress: state === "valid" ? address : undefined, ownAddress };
  const what = state === "absent" ? "being added" : "tentative (duplicate address detection running)";
  return { listenAddress: undefined, ownAddress, waiting: `own address ${address} on ${iface} is ${what}` };
}

function planDevice(
  facts: Facts,
  config: Config,
  device: DeviceConfig,
  wait: GatewayWait | undefined,
  suffix: bigint | undefined,
): DevicePlan {
  const choice = facts.devices[device.name] ?? unknownDevice;
  const choices = choicesOf(facts.choices, device.name);
  const lan = facts.links?.[config.lan.interface];
  const lanAddress = chooseLanAddress(lan, config, choice.address);
  const ports = choices.ports ?? device.ports;
  // A range is one listener per port; HAProxy serves the ports of a range as one frontend (render/haproxy.ts).
  const pairs = ports.flatMap((p) => expandPorts([p]).map((pair) => ({ ...pair, range: isRange(p) })));
  const base = {
    name: device.name,
    enabled: choices.enabled,
    ports,
    portsSource: choices.ports === undefined ? ("config" as const) : ("runtime" as const),
    lanAddress,
    device: { mac: choice.mac, address: choice.address, source: choice.source },
  };
  const result = (
    waitingFor: WaitingFor | undefined,
    detail: string | undefined,
    snat: SnatRule | null = null,
    listeners: ListenerSpec[] = [],
    place: ListenPlace = { listenAddress: undefined },
  ): DevicePlan => ({
    ...base,
    waitingFor,
    detail,
    snat,
    listeners,
    listenAddress: place.listenAddress,
    ...(place.ownAddress === undefined ? {} : { ownAddress: place.ownAddress }),
    ...(place.refusedAddress === undefined ? {} : { refusedAddress: place.refusedAddress }),
  });
  if (!choices.enabled) return result(undefined, "disabled");
  if (wait !== undefined && !wait.keepsSnat) return result(wait.waitingFor, wait.detail);
  if (choice.address === undefined || lanAddress === undefined) {
    // A device's own IPv6 address does not hang on its IPv4 address: it stays while the device is away or not found
    // yet (at start-up, before the lease files are read), so a restart or a lease gap never removes it and adds it
    // again (DAD, its DNS name and every connection to it would go with it). Nothing listens on it meanwhile.
    const place =
      wait === undefined && facts.wanAddress !== undefined
        ? listenPlace(facts, config, device, facts.wanAddress, suffix)
        : undefined;
    return result("device", choice.detail ?? "device unknown", null, [], {
      listenAddress: undefined,
      ...(place?.ownAddress === undefined ? {} : { ownAddress: place.ownAddress }),
      ...(place?.refusedAddress === undefined ? {} : { refusedAddress: place.refusedAddress }),
    });
  }
  // The gateway's own address (a configured address, or a lease or neighbour entry that names it) would forward the
  // WAN to the gateway's own services, whatever listens on it: never served.
  const gatewayOwn = gatewayInterfaceOf(facts, choice.address);
  if (gatewayOwn !== undefined)
    return result(
      "device",
      `device address ${choice.address} is the gateway's own (on ${gatewayOwn}): not served, it would open the gateway's own services to the WAN; give ${device.name} its device's address`,
    );
  const snat: SnatRule = {
    device: device.name,
    lanInterface: config.lan.interface,
    lanAddress,
    deviceAddress: choice.address,
    ports: [...new Set(pairs.map((p) => p.target))].sort((a, b) => a - b),
  };
  if (wait !== undefined || facts.wanAddress === undefined)
    return result(wait?.waitingFor ?? "wan-address", wait?.detail ?? "no WAN address", snat);
  const place = listenPlace(facts, config, device, facts.wanAddress, suffix);
  if (place.waiting !== undefined) return result("own-address", place.waiting, snat, [], place);
  // The SNAT rule stays (it serves nothing without a listener), so a device back needs only its listeners again.
  const refusing = unreachable(facts, device.name, snat.deviceAddress);
  if (refusing !== undefined)
    return { ...result(undefined, undefined, snat, [], place), unreachable: refusing };
  const wanAddress = place.listenAddress;
  if (wanAddress === undefined) return result(undefined, undefined, snat, [], place);
  const listeners: ListenerSpec[] = pairs
    .map((p) => ({
      device: device.name,
      listen: p.listen,
      target: p.target,
      ...(p.range ? { range: true as const } : {}),
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
  return result(undefined, undefined, snat, listeners, place);
}

/**
 * The desired state of every device, and what each waits for. A device waits on its own for its address (the
 * others serve meanwhile); the gateway's links and addresses are every device's wait, the Plan's `waitingFor`.
 */
export function plan(facts: Facts, config: Config): Plan {
  const lan = facts.links?.[config.lan.interface];
  const firstAddress = config.devices.map((d) => facts.devices[d.name]?.address).find((a) => a !== undefined);
  const lanAddress = chooseLanAddress(lan, config, firstAddress);
  const wait = gatewayWait(facts, config, lanAddress);
  const suffixes = ownSuffixes(config.devices, facts.links?.[wanAddressInterface(config)]);
  const devices = config.devices.map((d) => planDevice(facts, config, d, wait, suffixes.get(d.name)));
  const snat = devices.flatMap((d) => (d.snat === null ? [] : [d.snat])).sort(compareByDevice);
  const listeners = devices.flatMap((d) => d.listeners).sort(compareListeners);
  const addresses = devices
    .flatMap((d): OwnAddress[] =>
      d.ownAddress === undefined
        ? []
        : [{ device: d.name, interface: d.ownAddress.interface, address: d.ownAddress.address }],
    )
    .sort(compareByDevice);
  const desired = { snat, listeners, addresses };
  const active = devices.filter((d) => d.enabled);
  if (active.length === 0) return { desired, waitingFor: undefined, detail: "disabled", lanAddress, devices };
  // Every device waiting for its address is the agent's wait too (with one device, the 0.1 plan's "device").
  const allUnknown = wait === undefined && active.every((d) => d.waitingFor === "device");
  const unknownDetail =
    active.length === 1
      ? active[0]?.detail
      : active.map((d) => `${d.name}: ${d.detail ?? "unknown"}`).join("; ");
  return {
    desired,
    waitingFor: wait?.waitingFor ?? (allUnknown ? "device" : undefined),
    detail: wait?.detail ?? (allUnknown ? unknownDetail : undefined),
    lanAddress,
    devices,
  };
}
