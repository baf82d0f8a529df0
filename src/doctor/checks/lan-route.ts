// The LAN address shares a subnet with the device, and the gateway routes that subnet through the LAN alone.
// An upstream network on the same subnet (192.168.1.0/24 is common) is the classic way this breaks.
import { formatIPv4, parseIPv4, sameIPv4Subnet } from "../../core/addr.js";
import type { DeviceView, DoctorContext } from "../context.js";
import { formatRoute, overlappingRoutes, type Route } from "../parse/route.js";
import type { Check } from "../types.js";
import { deviceField } from "./naming.js";

const RENUMBER = "renumber the LAN or the upstream network so the two subnets differ";

function networkOf(address: string, prefix: number): string {
  const n = parseIPv4(address) ?? 0;
  const size = 2 ** (32 - prefix);
  return `${formatIPv4(Math.floor(n / size) * size)}/${prefix}`;
}

const devices = (routes: readonly Route[]) => [...new Set(routes.map((r) => r.dev ?? "?"))].join(", ");

export function lanRouteCheck(ctx: DoctorContext, dv: DeviceView): Check {
  const id = "lan-route";
  const title = "LAN subnet and route";
  const lan = ctx.config.lan.interface;
  const lanAddress = dv.plan.lanAddress;
  const device = dv.plan.device.address;
  if (!ctx.links.ok) return { id, title, status: "skip", detail: "the interfaces could not be read" };
  const link = ctx.links.value.find((l) => l.name === lan);
  if (link === undefined) return { id, title, status: "skip", detail: `there is no interface ${lan}` };
  const own = link.addresses.find((a) => a.family === "inet" && a.address === lanAddress);
  if (lanAddress === undefined || own === undefined) {
    const configured = ctx.config.lan.address;
    return {
      id,
      title,
      status: "fail",
      detail:
        configured === "auto"
          ? `${lan} has no IPv4 address`
          : `the configured lan.address ${configured} is not on ${lan}`,
      fix: `give ${lan} the gateway's IPv4 address on the device's network (e.g. 192.168.1.1/24), or set lan.address`,
    };
  }
  const subnet = networkOf(lanAddress, own.prefixlen);
  if (device !== undefined && !sameIPv4Subnet(lanAddress, device, own.prefixlen)) {
    return {
      id,
      title,
      status: "fail",
      detail: `the device ${device} is outside ${lan}'s subnet ${subnet} (${lanAddress}/${own.prefixlen})`,
      fix: `give the device an address in ${subnet} (DHCP on ${lan}), or correct ${deviceField(ctx, dv, "address")} / lan.address`,
    };
  }
  if (!ctx.routes.ok) {
    return {
      id,
      title,
      status: "warn",
      detail: `cannot read the routing table: ${ctx.routes.error}`,
      fix: "run doctor as root",
    };
  }
  const overlaps = overlappingRoutes(ctx.routes.value, { address: lanAddress, prefix: own.prefixlen }, lan);
  const overlapText = overlaps.map(formatRoute).join("; ");
  const pinned = `sixgate's socat pins its connections to ${lan} (so-bindtodevice=${lan}), so the proxy itself is not misrouted`;
  const route = dv.routeToDevice;
  if (device !== undefined && route !== undefined) {
    if (!route.ok || route.value === undefined) {
      return {
        id,
        title,
        status: "fail",
        detail: `the kernel has no route to the device ${device}: ${route.ok ? "no answer" : route.error}`,
        fix: `check ${lan}'s address and routes (ip route get ${device})`,
      };
    }
    const chosen = route.value;
    if (chosen.dev !== lan) {
      const strict = ctx.rpFilter === 1;
      return {
        id,
        title,
        status: strict ? "fail" : "warn",
        detail:
          `the route to the device ${device} leaves through ${chosen.dev ?? "?"} (${formatRoute(chosen)}), not ${lan}` +
          (overlaps.length > 0 ? `: ${devices(overlaps)} also routes ${subnet} (${overlapText})` : "") +
          `. ${pinned}; ` +
          (strict
            ? `but strict reverse-path filtering (rp_filter=1) drops the device's replies arriving on ${lan}`
            : "other traffic from the gateway to the device goes the wrong way"),
        fix: strict
          ? `${RENUMBER}, or set loose reverse-path filtering: sysctl net.ipv4.conf.${lan}.rp_filter=2 (and .all.)`
          : `${RENUMBER}; until then so-bindtodevice keeps sixgate working`,
      };
    }
  }
  if (overlaps.length > 0) {
    return {
      id,
      title,
      status: "warn",
      detail:
        `${devices(overlaps)} also routes ${subnet} (${overlapText}); ` +
        `the route to the device uses ${lan} today, but the order of equal routes can change. ${pinned}`,
      fix: `${RENUMBER}; until then so-bindtodevice keeps sixgate working`,
    };
  }
  const holds =
    device === undefined
      ? " (device address not known yet)"
      : ` holds the device ${device}, and the route to it leaves through ${lan}`;
  return {
    id,
    title,
    status: "ok",
    detail: `${lanAddress}/${own.prefixlen} on ${lan}${holds}; no other interface routes ${subnet}`,
  };
}
