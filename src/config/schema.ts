// The configuration file's schema. Every value that can reach a command line is validated here,
// so a bad file is refused before anything is touched.
import { posix } from "node:path";
import * as z from "zod";
import { canonicalIPv6, isIPv4, isInterfaceName, normalizeMac, parseIPv4, parseIPv6 } from "../core/addr.js";
import { formatSuffix, parseSuffix } from "../core/own-address.js";
import { mqttConfigSchema } from "../mqtt/config.js";
import {
  expandPorts,
  isRange,
  mappingSpans,
  parseSpan,
  spanSize,
  spanText,
  type PortMapping,
  type PortText,
} from "../core/ports.js";
import { allowedTargetsSchema } from "./allowed-targets.js";
import { checkHostnames, dnsConfigSchema, dnsLabel } from "./dns.js";
import { healthConfigSchema } from "./health.js";

const interfaceName = z
  .string()
  .refine(isInterfaceName, "must be a Linux interface name (1-15 of A-Z a-z 0-9 _ . -)");

/** Why the listeners cannot serve on an IPv6 address (a global or unique-local unicast one is fine), or undefined. */
export function notServable(groups: readonly number[]): string | undefined {
  const [first = 0] = groups;
  const zeroUpTo = (n: number) => groups.slice(0, n).every((g) => g === 0);
  if (groups.every((g) => g === 0)) return "unspecified";
  if (zeroUpTo(7) && groups[7] === 1) return "loopback";
  if (zeroUpTo(5) && groups[5] === 0xffff) return "an IPv4-mapped address";
  if (first >= 0xff00) return "multicast";
  if ((first & 0xffc0) === 0xfe80)
    return "link-local: it needs an interface to bind and is reached on the link only";
  return undefined;
}

/** "auto" or an IPv6 literal, kept in canonical form so comparisons with `ip` output hold. */
const ipv6OrAuto = z.string().transform((s, ctx) => {
  if (s === "auto") return s;
  const c = canonicalIPv6(s);
  const groups = parseIPv6(s);
  if (c === undefined || groups === undefined) {
    ctx.addIssue({ code: "custom", message: `"${s}" is not "auto" or an IPv6 address` });
    return z.NEVER;
  }
  const why = notServable(groups);
  if (why !== undefined) {
    ctx.addIssue({
      code: "custom",
      message: `${c} is ${why}; give a global or unique-local address, or auto`,
    });
    return z.NEVER;
  }
  return c;
});

const ipv4 = z
  .string()
  .refine(isIPv4, { error: (issue) => `"${String(issue.input)}" is not an IPv4 address` });

/** Why an IPv4 address cannot be a LAN device's: socat would connect to the gateway itself, or to no one host. */
export function notAHost(address: string): string | undefined {
  const n = parseIPv4(address);
  if (n === undefined) return undefined;
  const first = Math.floor(n / 2 ** 24);
  if (first === 0) return "0.0.0.0/8 means this host: the gateway itself";
  if (first === 127) return "loopback: the gateway itself";
  if (first >= 224 && first < 240) return "multicast";
  if (first >= 240) return "reserved or broadcast";
  return undefined;
}

/** A device's static address: an IPv4 address of a host (the schema cannot know the gateway's own, plan.ts can). */
const deviceAddress = ipv4.superRefine((s, ctx) => {
  const why = notAHost(s);
  if (why !== undefined)
    ctx.addIssue({ code: "custom", message: `${s} is not a LAN host's address (${why})` });
});

const ipv4OrAuto = z.string().refine((s) => s === "auto" || isIPv4(s), {
  error: (issue) => `"${String(issue.input)}" is not "auto" or an IPv4 address`,
});

const mac = z.string().transform((s, ctx) => {
  const m = normalizeMac(s);
  if (m === undefined) {
    ctx.addIssue({ code: "custom", message: `"${s}" is not a MAC address like 02:00:00:00:01:00` });
    return z.NEVER;
  }
  return m;
});

const port = z.number().int("must be a whole number").min(1, "must be 1-65535").max(65535, "must be 1-65535");

const absolutePath = z
  .string()
  .refine((s) => s.startsWith("/") && !s.includes("\0") && s.length < 4096, "must be an absolute path")
  // Written plainly, one spelling per file: the duplicate checks compare text, and ".." must not lead elsewhere.
  .refine(
    (s) => !s.startsWith("/") || posix.normalize(s) === s,
    "must be written plainly: no . or .. parts, no repeated /",
  );

/** A directory the agent writes its own files into: never the root itself. */
const ownDirectory = absolutePath.refine((s) => s.replace(/\/+$/, "") !== "", "must not be / itself");

/** A port (a number) or an inclusive range "8000-8010"; kept as written (see core/ports.ts). */
const portText = z.union([z.number(), z.string()]).transform((value, ctx): PortText => {
  const fail = (message: string) => {
    ctx.addIssue({ code: "custom", message });
    return z.NEVER;
  };
  if (typeof value === "number") {
    const checked = port.safeParse(value);
    return checked.success ? value : fail(checked.error.issues[0]?.message ?? "must be 1-65535");
  }
  const span = parseSpan(value);
  if (span === undefined)
    return fail(`${JSON.stringify(value)} is not a port number or a range like 8000-8010`);
  if (span.first === span.last && !port.safeParse(span.first).success) return fail("must be 1-65535");
  if (span.first > span.last) return fail(`range ${value} is reversed: write ${span.last}-${span.first}`);
  if (span.first < 1 || span.last > 65535) return fail(`range ${value} goes beyond 1-65535`);
  return spanText(span);
});

/** A mapping's listen and target name as many ports: port i of the listen range goes to port i of the target's. */
export const portMapSchema = z.strictObject({ listen: portText, target: portText }).superRefine((p, ctx) => {
  const { listen, target } = mappingSpans(p);
  if (spanSize(listen) !== spanSize(target))
    ctx.addIssue({
      code: "custom",
      path: ["target"],
      message: `${spanSize(target) > 1 ? "range" : "port"} ${p.target} has ${spanSize(target)} port${spanSize(target) > 1 ? "s" : ""}, listen ${p.listen} has ${spanSize(listen)}`,
    });
});

/** At most this many listeners (listen ports of all devices together, a range counting each of its ports): one socat
 * each on a small router. */
export const MAX_LISTENERS = 256;

/** Why `ports` spawn too many listeners: the total and each range's share, or undefined within MAX_LISTENERS. */
export function tooManyListeners(
  ports: readonly { path: string; mapping: PortMapping }[],
  base = 0,
): string | undefined {
  const total = ports.reduce((n, p) => n + mappingSpans(p.mapping).count, base);
  if (total <= MAX_LISTENERS) return undefined;
  const ranges = ports
    .filter((p) => isRange(p.mapping))
    .map((p) => `${p.path} ${p.mapping.listen} spawns ${mappingSpans(p.mapping).count}`);
  const detail = ranges.length === 0 ? "" : ` (${ranges.join(", ")})`;
  return `${total} listen ports in all${detail}; at most ${MAX_LISTENERS}, one listener each`;
}

export const portsSchema = z
  .array(portMapSchema)
  .min(1, "needs at least one port mapping")
  .max(64, "at most 64 port mappings")
  .superRefine((ports, ctx) => {
    // Listen ports already named, and by which mapping: a range overlapping another is named once, at its first port.
    const owner = new Map<number, number>();
    ports.forEach((p, i) => {
      const { listen } = mappingSpans(p);
      for (let n = listen.first; n <= listen.last; n++) {
        const first = owner.get(n);
        if (first !== undefined) {
          const message =
            isRange(p) || isRange(ports[first] ?? p)
              ? `listen ${p.listen} overlaps ports.${first} (${ports[first]?.listen}) at port ${n}`
              : `port ${n} is listed twice`;
          ctx.addIssue({ code: "custom", path: [i, "listen"], message });
          break;
        }
      }
      for (let n = listen.first; n <= listen.last; n++) if (!owner.has(n)) owner.set(n, i);
    });
    const tooMany = tooManyListeners(ports.map((mapping, i) => ({ path: `ports.${i}`, mapping })));
    if (tooMany !== undefined) ctx.addIssue({ code: "custom", message: tooMany });
  });

/** A device's name: used in MQTT topics, entity ids, pid record names and logs, so a slug. */
const deviceName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, "must be 1-32 of a-z 0-9 _ -, starting with a letter or digit");

/** An interface identifier: an IPv6 literal whose high 64 bits are zero and low 64 bits are not; kept canonical. */
const ipv6Suffix = z.string().transform((s, ctx) => {
  const iid = parseSuffix(s);
  if (iid === undefined) {
    ctx.addIssue({
      code: "custom",
      message: `"${s}" is not an interface identifier: an IPv6 literal like "::80" or "::c0a8:164", high 64 bits zero, low 64 bits not`,
    });
    return z.NEVER;
  }
  return formatSuffix(iid);
});

export const deviceSchema = z.strictObject({
  name: deviceName,
  /** Its DNS name in `dns.zone` (the AAAA record sixgate keeps), or without `dns:` a name shown in status and MQTT. */
  hostname: dnsLabel.optional(),
  /** Found by MAC: its lease, else the LAN's neighbour table (src/core/device.ts). */
  mac: mac.optional(),
  /** A static address: served as given. */
  address: deviceAddress.optional(),
  ports: portsSchema,
  /** Where its listeners bind: the gateway's WAN address (shared), or an address of its own in the prefix (own). */
  ipv6: z.enum(["shared", "own"]).default("shared"),
  /** The own address's interface identifier; derived from the name when absent (src/core/own-address.ts). */
  ipv6Suffix: ipv6Suffix.optional(),
});

export type DeviceConfig = z.output<typeof deviceSchema>;

/** The one device of the shorthand form (`device:` + `ports:`) is called this in status, MQTT and logs. */
export const SHORTHAND_DEVICE = "device";

const configFields = z.strictObject({
  wan: z.strictObject({
    interface: interfaceName,
    address: ipv6OrAuto.default("auto"),
    /** Where the listen address lives when not on `interface` (a prefix-delegation-only uplink: the LAN bridge). */
    addressFrom: interfaceName.optional(),
  }),
  lan: z.strictObject({
    interface: interfaceName,
    address: ipv4OrAuto.default("auto"),
  }),
  /** The one-device shorthand (with top-level `ports`); normalised into `devices` (see configSchema). */
  device: z
    .strictObject({
      mac: mac.optional(),
      address: deviceAddress.optional(),
      hostname: dnsLabel.optional(),
      /** The shorthand's lease file; the top-level `leases` list is the general form. */
      leases: absolutePath.optional(),
    })
    .optional(),
  /** The devices to serve, each with its own ports; the general form of `device` + `ports`. */
  devices: z.array(deviceSchema).min(1, "needs at least one device").max(64, "at most 64 devices").optional(),
  /** Lease files (dnsmasq or odhcpd, recognised from their content), merged; see leaseFiles(). */
  leases: z
    .array(absolutePath)
    .min(1, "needs at least one file")
    .max(8, "at most 8 lease files")
    .refine((files) => new Set(files).size === files.length, "a file is listed twice")
    .optional(),
  /** The shorthand's port mappings (with `device`). */
  ports: portsSchema.optional(),
  /** The target ports a run-time set-ports may use (see allowed-targets.ts); default: those of `ports`. */
  allowedTargets: allowedTargetsSchema.optional(),
  firewall: z.enum(["auto", "nft", "iptables"]).default("auto"),
  runtimeDir: ownDirectory.default("/run/sixgate"),
  stateDir: ownDirectory.default("/var/lib/sixgate"),
  debounceMs: z.number().int().min(0).max(60000).default(300),
  listener: z
    .strictObject({
      maxChildren: z.number().int().min(1).max(10000).default(64),
      backlog: z.number().int().min(1).max(65535).default(32),
      connectTimeoutSec: z.number().min(0.1).max(300).default(5),
      /** TCP keepalive on both legs: idle seconds before the first probe; 0 = off (see render/socat.ts). */
      keepaliveSec: z.number().int().min(0).max(7200).default(120),
      /** Closes a connection with no traffic either way for this long; absent = never. */
      idleTimeoutSec: z.number().int().min(1).max(604800).optional(),
      /** After one side ends its sending (half-close), how long the other may still send (socat -t). */
      halfCloseSec: z.number().min(0.1).max(3600).default(30),
      /** What carries the traffic: a socat per port, or one HAProxy for every port (docs/configuration.md). */
      backend: z.enum(["socat", "haproxy"]).default("socat"),
    })
    .default({
      maxChildren: 64,
      backlog: 32,
      connectTimeoutSec: 5,
      keepaliveSec: 120,
      halfCloseSec: 30,
      backend: "socat",
    }),
  /** A link that went down `flaps` times within windowSec is held down until steady for holdSec (0 flaps = off). */
  flapDamping: z
    .strictObject({
      flaps: z.number().int().min(0).max(1000).default(3),
      windowSec: z.number().min(1).max(86400).default(30),
      holdSec: z.number().min(0).max(86400).default(10),
    })
    .default({ flaps: 3, windowSec: 30, holdSec: 10 }),
  commandTimeoutMs: z.number().int().min(100).max(120000).default(10000),
  logLevel: z.enum(["trace", "debug", "info", "warn", "error", "fatal"]).default("info"),
  health: healthConfigSchema,
  /** Optional: without it the agent does its whole job and publishes nothing. */
  mqtt: mqttConfigSchema.optional(),
  /** Optional: RFC 2136 updates that keep each `hostname`'s AAAA record at its current address (src/dns/). */
  dns: dnsConfigSchema.optional(),
});

type RawConfig = z.output<typeof configFields>;

/** The checks that span fields: one form of device list, unique names, MACs, addresses and listen ports. */
function checkDevices(c: RawConfig, issue: (path: (string | number)[], message: string) => void): void {
  // Refused rather than merged: a file naming both most likely moved device.leases up and forgot to delete it.
  if (c.leases !== undefined && c.device?.leases !== undefined)
    issue(["leases"], "give leases or device.leases, not both");
  if (c.device?.hostname !== undefined && c.device.hostname === c.dns?.gatewayName)
    issue(["device", "hostname"], `"${c.device.hostname}" is also dns.gatewayName`);
  if (c.devices === undefined) {
    if (c.ports === undefined) issue(["ports"], "needs the port mappings (or a devices list)");
    return;
  }
  if (c.device !== undefined)
    issue(["device"], "give devices or the one-device shorthand device + ports, not both");
  if (c.ports !== undefined) issue(["ports"], "with devices, each device has its own ports");
  const owners = new Map<string, number>();
  const claim = (key: string, i: number, path: (string | number)[], what: string) => {
    const first = owners.get(key);
    if (first === undefined) owners.set(key, i);
    else
      issue(
        ["devices", i, ...path],
        `${what} is also devices.${first}'s (${c.devices?.[first]?.name ?? "?"})`,
      );
  };
  const several = c.devices.length > 1;
  c.devices.forEach((d, i) => {
    claim(`name ${d.name}`, i, ["name"], `name "${d.name}"`);
    if (d.mac !== undefined) claim(`mac ${d.mac}`, i, ["mac"], `MAC ${d.mac}`);
    if (d.address !== undefined) claim(`address ${d.address}`, i, ["address"], `address ${d.address}`);
    // The single-lease guess needs one device: with several it would hand the same lease to each.
    if (several && d.mac === undefined && d.address === undefined)
      issue(["devices", i], "needs a mac or an address when several devices are listed");
    if (d.ipv6Suffix !== undefined && d.ipv6 !== "own")
      issue(["devices", i, "ipv6Suffix"], "needs ipv6: own (a shared device listens on the WAN address)");
    if (d.ipv6Suffix !== undefined)
      claim(`suffix ${d.ipv6Suffix}`, i, ["ipv6Suffix"], `suffix ${d.ipv6Suffix}`);
    // A listen port is bound on the shared WAN address: one device each (a range: each of its ports, named once); a
    // device with its own address has its own (HAProxy names its proxies by listen port: one device each there).
    const space = d.ipv6 === "own" && c.listener.backend !== "haproxy" ? `own ${d.name}` : "shared";
    d.ports.forEach((p, j) => {
      const ports = expandPorts([p]);
      const key = (port: number) => `listen ${space} ${port}`;
      const taken = ports.find((q) => owners.has(key(q.listen)));
      const what = isRange(p) ? `listen ${p.listen} (port ${taken?.listen})` : `listen port ${p.listen}`;
      if (taken !== undefined) claim(key(taken.listen), i, ["ports", j, "listen"], what);
      for (const q of ports) owners.set(key(q.listen), owners.get(key(q.listen)) ?? i);
    });
  });
  checkHostnames(c.devices, c.dns?.gatewayName, issue);
  const tooMany = tooManyListeners(
    c.devices.flatMap((d, i) => d.ports.map((mapping, j) => ({ path: `devices.${i}.ports.${j}`, mapping }))),
  );
  if (tooMany !== undefined) issue(["devices"], tooMany);
}

/**
 * The file's schema; the output always lists `devices` (the shorthand becomes one device named SHORTHAND_DEVICE)
 * and the leases to read in `leases`, so the rest of the agent knows one form.
 */
export const configSchema = configFields
  .superRefine((c, ctx) => {
    checkDevices(c, (path, message) => ctx.addIssue({ code: "custom", path, message }));
  })
  .transform(({ device, ports, devices, ...rest }) => ({
    ...rest,
    leases: rest.leases ?? (device?.leases === undefined ? undefined : [device.leases]),
    /** True when the file used the one-device shorthand (MQTT keeps its 0.1 entity ids for it). */
    shorthand: devices === undefined,
    devices: devices ?? [
      {
        name: SHORTHAND_DEVICE,
        mac: device?.mac,
        address: device?.address,
        ...(device?.hostname === undefined ? {} : { hostname: device.hostname }),
        ports: ports ?? [],
        ipv6: "shared" as const,
      },
    ],
  }));

export type Config = z.output<typeof configSchema>;

/**
 * The checks that span fields, run again on a config as a reload applies it (config/reload.ts): the file was checked
 * with its own listener.backend and dns, but the ones in use stay until a restart. One `path: problem` line each.
 */
export function crossFieldProblems(config: Config): string[] {
  const problems: string[] = [];
  checkDevices({ ...config, device: undefined, ports: undefined }, (path, message) =>
    problems.push(`${path.map(String).join(".")}: ${message}`),
  );
  return problems;
}

/**
 * The checks that span devices (listen ports, at most 256 listeners) on the config with each device's run-time port
 * mappings (set-ports) in place of its file ports: empty when they fit together.
 */
export function runtimePortProblems(
  config: Config,
  choices: Readonly<Record<string, { ports?: PortMap[] | undefined }>>,
): string[] {
  const devices = config.devices.map((d) => ({ ...d, ports: choices[d.name]?.ports ?? d.ports }));
  return crossFieldProblems({ ...config, devices });
}

/** The lease file dnsmasq writes on OpenWrt, read when the config names none. */
export const DEFAULT_LEASE_FILE = "/tmp/dhcp.leases";

/** The lease files to read: `leases` (the shorthand's `device.leases` is moved there), else the default. */
export function leaseFiles(config: Config): string[] {
  return config.leases ?? [DEFAULT_LEASE_FILE];
}
export type PortMap = z.output<typeof portMapSchema>;

/** Formats zod issues as `path: problem` lines, the path dotted the way the YAML nests. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map(String).join(".") : "(top level)";
    let message = issue.message;
    if (issue.code === "unrecognized_keys") message = `unknown key(s): ${issue.keys.join(", ")}`;
    return `${path}: ${message}`;
  });
}
