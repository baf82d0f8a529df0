// Folds events into facts. Pure: the same events in the same order give the same facts.
import { compareIPv6 } from "./addr.js";
import { chooseDevice, unknownDevice } from "./device.js";
import type { AddrInfo, Event, Facts, LinkInfo, State } from "./types.js";

export const initialFacts: Facts = {
  links: undefined,
  wanAddress: undefined,
  leases: undefined,
  device: unknownDevice,
  enabled: true,
  ports: undefined,
};

/** A WAN address we may serve on: global, settled (not tentative), not deprecated, not a privacy address. */
export function isUsableWanAddress(a: AddrInfo): boolean {
  return (
    a.family === "inet6" &&
    a.scope === "global" &&
    !a.tentative &&
    !a.deprecated &&
    !a.temporary &&
    !a.dadfailed
  );
}

const isUla = (address: string) => /^f[cd]/i.test(address);

/** Global unicast before unique-local (fc00::/7), then numerically lowest: a total, stable order. */
function preferWan(a: string, b: string): number {
  return Number(isUla(a)) - Number(isUla(b)) || compareIPv6(a, b);
}

/**
 * Picks the WAN address. A configured literal wins once it is usable on the link; with "auto", the address
 * in use stays while it is usable, otherwise the first in a fixed order (global before ULA, then lowest), so equals
 * never flap.
 */
export function selectWanAddress(
  link: LinkInfo | undefined,
  configured: string,
  current: string | undefined,
): string | undefined {
  if (link === undefined) return undefined;
  const usable = link.addresses.filter(isUsableWanAddress).map((a) => a.address);
  if (configured !== "auto") return usable.includes(configured) ? configured : undefined;
  if (current !== undefined && usable.includes(current)) return current;
  return [...usable].sort(preferWan)[0];
}

export function reduce(state: State, event: Event): State {
  const { config, facts } = state;
  switch (event.type) {
    case "links": {
      const links: Record<string, LinkInfo> = {};
      for (const link of event.links) links[link.name] = link;
      const wanAddress = selectWanAddress(links[config.wan.interface], config.wan.address, facts.wanAddress);
      return { config, facts: { ...facts, links, wanAddress } };
    }
    case "leases":
      return {
        config,
        facts: { ...facts, leases: event.leases, device: chooseDevice(event.leases, config, facts.device) },
      };
    case "enabled":
      return { config, facts: { ...facts, enabled: event.enabled } };
    case "ports":
      return { config, facts: { ...facts, ports: event.ports } };
    case "config": {
      const next = event.config;
      const links = facts.links;
      const wanAddress =
        links === undefined
          ? undefined
          : selectWanAddress(links[next.wan.interface], next.wan.address, facts.wanAddress);
      const device = chooseDevice(facts.leases ?? [], next, facts.device);
      return { config: next, facts: { ...facts, wanAddress, device } };
    }
  }
}
