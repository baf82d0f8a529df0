// A device's own IPv6 address (`ipv6: own`): on its interface, ours (in sixgate's record), valid, and not a duplicate
// (DAD passed).
import type { Config, DevicePlan } from "../../core/types.js";
import { addressRecordPath } from "../../effects/addresses.js";
import type { Check } from "../types.js";

/** The address a device's listeners bind: the WAN address when shared, its own address (once valid) when own. */
export function listenAddressOf(
  config: Config,
  plan: DevicePlan,
  wan: string | undefined,
): string | undefined {
  const own = config.devices.find((d) => d.name === plan.name)?.ipv6 === "own";
  return own ? plan.listenAddress : wan;
}

/**
 * `own-address` (per device: `cam/own-address`), from the device's plan: the plan reads the address's state from the
 * same snapshot as every other check. No check for a device that shares the WAN address.
 */
export function ownAddressChecks(config: Config, plan: DevicePlan): Check[] {
  const device = config.devices.find((d) => d.name === plan.name);
  if (device?.ipv6 !== "own") return [];
  const id = "own-address";
  const refused = plan.refusedAddress;
  if (refused !== undefined)
    return [
      {
        id,
        title: `Own IPv6 address ${refused.address}`,
        status: "fail",
        detail: `${refused.address} is on ${refused.interface} but sixgate did not add it (not in ${addressRecordPath(config.runtimeDir)}): it is in use by something else, so ${plan.name} is not served there`,
        fix: `if it is a leftover, remove it (ip -6 addr del ${refused.address}/128 dev ${refused.interface}); else set another ipv6Suffix for ${plan.name}`,
      },
    ];
  const own = plan.ownAddress;
  if (own === undefined) {
    const title = "Own IPv6 address";
    if (plan.waitingFor === "own-address")
      return [
        {
          id,
          title,
          status: "fail",
          detail: plan.detail ?? "it cannot be made",
          fix: "set another ipv6Suffix, or give the gateway a /64 (or shorter) prefix on the listen interface",
        },
      ];
    const why = plan.enabled
      ? (plan.detail ?? plan.waitingFor ?? "nothing to serve")
      : "disabled by the operator";
    return [{ id, title, status: "skip", detail: `no own address is planned now: ${why}` }];
  }
  const title = `Own IPv6 address ${own.address}`;
  const where = `${own.address}/128 on ${own.interface}`;
  switch (own.state) {
    case "valid":
      return [{ id, title, status: "ok", detail: `${where}, duplicate address detection passed` }];
    case "tentative":
      return [
        {
          id,
          title,
          status: "warn",
          detail: `${where} is tentative: duplicate address detection is still running, its listeners wait`,
          fix: "run doctor again in a few seconds; if it stays tentative, check that the interface has carrier",
        },
      ];
    case "dadfailed":
      return [
        {
          id,
          title,
          status: "fail",
          detail: `${where} failed duplicate address detection: another host on the link uses it, so it serves nothing`,
          fix: `find that host (ip -6 neigh show ${own.address}), or set another ipv6Suffix for ${plan.name}`,
        },
      ];
    case "absent":
      return [
        {
          id,
          title,
          status: "fail",
          detail: `${own.address} is not on ${own.interface}: the agent adds it while it runs`,
          fix: "see the Agent check below: is the agent running, and what is its last reconcile error?",
        },
      ];
  }
}
