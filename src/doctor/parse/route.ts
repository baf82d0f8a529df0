// `ip -json route show` and `ip -json route get`: which interface the kernel sends IPv4 traffic through.
import * as z from "zod";
import { parseIPv4, sameIPv4Subnet } from "../../core/addr.js";

export interface Route {
  /** "default", "192.168.1.0/24", or a host address. */
  dst: string;
  dev: string | undefined;
  gateway: string | undefined;
  prefsrc: string | undefined;
}

const routeSchema = z.looseObject({
  dst: z.string(),
  dev: z.string().optional(),
  gateway: z.string().optional(),
  prefsrc: z.string().optional(),
});

export function parseRoutes(text: string): Route[] {
  return z
    .array(routeSchema)
    .parse(JSON.parse(text))
    .map((r) => ({ dst: r.dst, dev: r.dev, gateway: r.gateway, prefsrc: r.prefsrc }));
}

/** `ip route get` prints one route; the first is the one the kernel chose. */
export function parseRouteGet(text: string): Route | undefined {
  return parseRoutes(text)[0];
}

/** "192.168.1.0/24" -> the network and prefix; a bare host address is a /32; "default" is /0. */
export function routePrefix(dst: string): { network: string; prefix: number } | undefined {
  if (dst === "default") return { network: "0.0.0.0", prefix: 0 };
  const [network = "", len] = dst.split("/");
  const prefix = len === undefined ? 32 : Number(len);
  if (parseIPv4(network) === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32)
    return undefined;
  return { network, prefix };
}

/**
 * Routes on other interfaces that cover part of the subnet (default routes aside: a default route is how every
 * gateway reaches the rest of the world, not a claim on the LAN).
 */
export function overlappingRoutes(
  routes: readonly Route[],
  subnet: { address: string; prefix: number },
  lanInterface: string,
): Route[] {
  return routes.filter((r) => {
    if (r.dev === lanInterface || r.dev === undefined) return false;
    const p = routePrefix(r.dst);
    if (p === undefined || p.prefix === 0) return false;
    return sameIPv4Subnet(p.network, subnet.address, Math.min(p.prefix, subnet.prefix));
  });
}

export function formatRoute(r: Route): string {
  return [
    r.dst,
    r.gateway === undefined ? "" : `via ${r.gateway}`,
    r.dev === undefined ? "" : `dev ${r.dev}`,
    r.prefsrc === undefined ? "" : `src ${r.prefsrc}`,
  ]
    .filter((s) => s !== "")
    .join(" ");
}
