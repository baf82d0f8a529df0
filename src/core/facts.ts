// Folds events into facts. Pure: the same events in the same order give the same facts.
import { compareIPv6, isUniqueLocal } from "./addr.js";
import { chooseDevices } from "./device.js";
import { isDeviceAddress, ownSuffixes } from "./own-address.js";
import type { AgentStatus, ProbeReport } from "./status.js";
import type { AddrInfo, Config, DeviceHop, DeviceReach, Event, Facts, LinkInfo, State } from "./types.js";

export const initialFacts: Facts = {
  links: undefined,
  wanAddress: undefined,
  leases: undefined,
  leaseFiles: [],
  neighbours: undefined,
  devices: {},
  choices: {},
  flaps: {},
  unreachable: {},
  recordedAddresses: undefined,
};

/** Why an address cannot carry the listeners; see wanAddressProblem. */
export type WanAddressProblem =
  "not-ipv6" | "link-local" | "not-global" | "dadfailed" | "tentative" | "temporary";

/**
 * What keeps `a` from carrying the listeners, or undefined when nothing does. Tentative (DAD still running: the
 * kernel refuses to bind it) and dadfailed (another host owns it) rule an address out whoever chose it. A temporary
 * privacy address is replaced over time, so "auto" never picks one; `literal` (the operator named the address in
 * `wan.address`) accepts it. Deprecated is no problem here: it only ranks lower (wanRank), and a literal that is
 * deprecated on purpose (preferred_lft 0: a service address the kernel should not use as a source) is served.
 */
export function wanAddressProblem(a: AddrInfo, literal: boolean): WanAddressProblem | undefined {
  if (a.family !== "inet6") return "not-ipv6";
  if (a.scope === "link") return "link-local";
  if (a.scope !== "global") return "not-global";
  if (a.dadfailed) return "dadfailed";
  if (a.tentative) return "tentative";
  if (a.temporary && !literal) return "temporary";
  return undefined;
}

/**
 * The order of preference among candidates "auto" may pick, 0 best. Reach first: global unicast before
 * unique-local (fc00::/7, which the internet does not route); then preferred before deprecated (RFC 4862 5.5.4:
 * a deprecated address is for when no other will do; it still receives connections until its valid lifetime ends).
 */
export function wanRank(a: AddrInfo): number {
  return (isUniqueLocal(a.address) ? 2 : 0) + (a.deprecated ? 1 : 0);
}

/**
 * Picks the WAN address from the link's addresses: a function of the link and the address in use, so the agent and
 * a one-shot observation seeded with the agent's address (plan, doctor) agree. A configured literal is used while it
 * is on the link and has no problem. With "auto", the best-ranked candidates are the equals; the one in use stays
 * while it is among them (so equals never flap), otherwise the numerically lowest. Better evidence always wins: a
 * global address arriving beside the ULA in use, or a preferred one beside a deprecated one, is taken at once.
 */
export function selectWanAddress(
  link: LinkInfo | undefined,
  configured: string,
  current: string | undefined,
): string | undefined {
  if (link === undefined) return undefined;
  if (configured !== "auto") {
    const literal = link.addresses.find((a) => a.address === configured);
    return literal !== undefined && wanAddressProblem(literal, true) === undefined ? configured : undefined;
  }
  const candidates = link.addresses.filter((a) => wanAddressProblem(a, false) === undefined);
  if (candidates.length === 0) return undefined;
  const best = Math.min(...candidates.map(wanRank));
  const equals = candidates.filter((a) => wanRank(a) === best).map((a) => a.address);
  if (current !== undefined && equals.includes(current)) return current;
  return equals.sort(compareIPv6)[0];
}

/** The interface the listen address is taken from: `wan.addressFrom`, else the WAN interface itself. */
export function wanAddressInterface(config: Config): string {
  return config.wan.addressFrom ?? config.wan.interface;
}

/**
 * The link the WAN address is chosen from, without the devices' own addresses (`ipv6: own`, /128s the agent adds
 * there): a device's address must never become the gateway's listen address.
 */
export function listenAddressLink(links: Record<string, LinkInfo>, config: Config): LinkInfo | undefined {
  const link = links[wanAddressInterface(config)];
  if (link === undefined) return undefined;
  const suffixes = ownSuffixes(config.devices, link);
  if (suffixes.size === 0) return link;
  return { ...link, addresses: link.addresses.filter((a) => !isDeviceAddress(a, suffixes)) };
}

const devicesOf = (facts: Facts, config: Config) =>
  chooseDevices(facts, config.devices, config.lan.interface, facts.devices);

/** The device hops of a probe report, each with the address probed (from the status the probe was given). */
export function deviceHopsOf(report: ProbeReport, probed: AgentStatus): DeviceHop[] {
  return report.results.flatMap((r) => {
    const address = probed.devices.find((d) => d.name === r.device)?.address;
    if (r.hop !== "device" || address == null) return [];
    return [{ device: r.device, address, target: r.target, ok: r.ok, error: r.error }];
  });
}

/**
 * Folds one probe's device hops into the unreachable devices: a device whose every hop failed counts one more failed
 * probe in a row (a new address starts again at one); a device with a hop that answered, or not probed at all (no
 * address), is dropped.
 */
export function foldDeviceHops(
  before: Record<string, DeviceReach>,
  hops: readonly DeviceHop[],
): Record<string, DeviceReach> {
  const after: Record<string, DeviceReach> = {};
  for (const name of new Set(hops.map((h) => h.device))) {
    const own = hops.filter((h) => h.device === name);
    const first = own[0];
    if (first === undefined || own.some((h) => h.ok)) continue;
    const previous = before[name];
    const failedProbes = (previous?.address === first.address ? previous.failedProbes : 0) + 1;
    const error = `device port ${first.target}: ${first.error ?? "failed"}`;
    after[name] = { address: first.address, failedProbes, error };
  }
  return after;
}

export function reduce(state: State, event: Event): State {
  const { config, facts } = state;
  switch (event.type) {
    case "links": {
      const links: Record<string, LinkInfo> = {};
      for (const link of event.links) links[link.name] = link;
      const wanAddress = selectWanAddress(
        listenAddressLink(links, config),
        config.wan.address,
        facts.wanAddress,
      );
      // The LAN's subnets decide which leases count without a device.mac (device.ts): the choice follows the links.
      const next = { ...facts, links, wanAddress, flaps: event.flaps ?? facts.flaps };
      return { config, facts: { ...next, devices: devicesOf(next, config) } };
    }
    case "leases": {
      const next = { ...facts, leases: event.leases, leaseFiles: event.files ?? [] };
      return { config, facts: { ...next, devices: devicesOf(next, config) } };
    }
    case "neighbours": {
      const next = { ...facts, neighbours: event.neighbours };
      return { config, facts: { ...next, devices: devicesOf(next, config) } };
    }
    case "choices":
      return { config, facts: { ...facts, choices: event.choices } };
    case "device-hops":
      return { config, facts: { ...facts, unreachable: foldDeviceHops(facts.unreachable, event.hops) } };
    case "recorded-addresses":
      return { config, facts: { ...facts, recordedAddresses: event.addresses } };
    case "config": {
      const next = event.config;
      const links = facts.links;
      const wanAddress =
        links === undefined
          ? undefined
          : selectWanAddress(listenAddressLink(links, next), next.wan.address, facts.wanAddress);
      return { config: next, facts: { ...facts, wanAddress, devices: devicesOf(facts, next) } };
    }
  }
}
