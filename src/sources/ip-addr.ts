// The one parser of `ip -json addr show`: the agent's netlink source reduces it to the core's LinkInfo,
// doctor uses the details (link flags, address lifetimes) too.
import * as z from "zod";
import { canonicalIPv6, isIPv4 } from "../core/addr.js";
import type { AddrInfo, LinkInfo } from "../core/types.js";

/** The core's AddrInfo plus the lifetimes (seconds; undefined = forever). */
export interface AddressDetail extends AddrInfo {
  validLft: number | undefined;
  preferredLft: number | undefined;
}

export interface LinkDetail {
  name: string;
  flags: string[];
  /** Administratively up (IFF_UP). */
  adminUp: boolean;
  /** The driver reports a carrier (LOWER_UP). */
  carrier: boolean;
  addresses: AddressDetail[];
}

const FOREVER = 4294967295;

// Every field optional: `ip -json` prints an address it filtered out as an empty object.
const addrSchema = z.looseObject({
  family: z.string().optional(),
  local: z.string().optional(),
  prefixlen: z.number().optional(),
  scope: z.string().optional(),
  tentative: z.boolean().optional(),
  deprecated: z.boolean().optional(),
  temporary: z.boolean().optional(),
  dadfailed: z.boolean().optional(),
  valid_life_time: z.number().int().min(0).optional(),
  preferred_life_time: z.number().int().min(0).optional(),
});

const linkSchema = z.looseObject({
  ifname: z.string(),
  flags: z.array(z.string()).default([]),
  addr_info: z.array(addrSchema).default([]),
});

const lifetime = (n: number | undefined) => (n === undefined || n >= FOREVER ? undefined : n);

/**
 * The address in the form the rest of the agent compares and puts on command lines (IPv6 canonical, RFC 5952), or
 * undefined when it is no valid literal of its family with a prefix length in range: such an entry is skipped.
 */
function validAddress(family: "inet" | "inet6", local: string, prefixlen: number): string | undefined {
  if (!Number.isInteger(prefixlen) || prefixlen < 0 || prefixlen > (family === "inet" ? 32 : 128))
    return undefined;
  return family === "inet" ? (isIPv4(local) ? local : undefined) : canonicalIPv6(local);
}

/**
 * Parses `ip -json addr show` output (iproute2's JSON, ip-address(8)). Addresses that are not a valid literal of
 * their family are skipped. Throws SyntaxError when the text is not JSON and z.ZodError when it is not the shape ip
 * prints (an array of links with an `ifname`).
 */
export function parseLinkDetails(text: string): LinkDetail[] {
  return z
    .array(linkSchema)
    .parse(JSON.parse(text))
    .map((l) => ({
      name: l.ifname,
      flags: l.flags,
      adminUp: l.flags.includes("UP"),
      carrier: l.flags.includes("LOWER_UP") && !l.flags.includes("NO-CARRIER"),
      addresses: l.addr_info.flatMap((a) => {
        if (a.family !== "inet" && a.family !== "inet6") return [];
        if (a.local === undefined || a.prefixlen === undefined) return [];
        const address = validAddress(a.family, a.local, a.prefixlen);
        return address === undefined
          ? []
          : [
              {
                family: a.family,
                address,
                prefixlen: a.prefixlen,
                scope: a.scope ?? "global",
                tentative: a.tentative === true,
                // A preferred lifetime of 0 is deprecated, whether or not ip prints the flag.
                deprecated: a.deprecated === true || a.preferred_life_time === 0,
                temporary: a.temporary === true,
                dadfailed: a.dadfailed === true,
                validLft: lifetime(a.valid_life_time),
                preferredLft: lifetime(a.preferred_life_time),
              },
            ];
      }),
    }));
}

/** What the core needs: up = administratively up with carrier. */
export function toLinkInfo(details: LinkDetail[]): LinkInfo[] {
  return details.map((l) => ({
    name: l.name,
    up: l.adminUp && l.carrier,
    addresses: l.addresses.map(({ validLft: _v, preferredLft: _p, ...a }) => a),
  }));
}

export function parseIpAddrJson(text: string): LinkInfo[] {
  return toLinkInfo(parseLinkDetails(text));
}
