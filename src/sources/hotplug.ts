// Notifications from hotplug and DHCP hooks (`sixgate notify`, see hotplug/), one JSON object per line on a Unix
// socket under runtimeDir. A message is only a trigger to re-observe (a fresh `ip -json addr` snapshot, the lease
// file read again), like an `ip monitor` line: a lost, repeated or stale message does no harm.
//
// The socket is the agent's only input from other processes, so it is treated as untrusted: mode 0600 in a 0700
// directory, every line validated and size-limited, a bounded number of connections, bytes and seconds per
// connection. A bad line is logged and dropped; nothing a client sends can stop the agent.
import { lstatSync, unlinkSync } from "node:fs";
import { chmod, lstat, rename, rm } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { dirname, join } from "node:path";
import { Observable, defer, retry, timer } from "rxjs";
import type { Logger } from "pino";
import * as z from "zod";
import { formatIssues } from "../config/schema.js";
import { canonicalIPv6, isIPv4, isInterfaceName, normalizeMac } from "../core/addr.js";

export const NOTIFY_SOCKET_NAME = "notify.sock";

export function notifySocketPath(runtimeDir: string): string {
  return join(runtimeDir, NOTIFY_SOCKET_NAME);
}

export const HOTPLUG_LIMITS = {
  /** One message line, newline excluded. */
  maxLineBytes: 4096,
  /** Connections open at once; more are closed by the kernel side at once (a hook simply gives up). */
  maxConnections: 16,
  /** Everything one connection may send; past it the connection is closed. */
  maxBytesPerConnection: 64 * 1024,
  /** A connection lives at most this long, however slowly it sends. */
  connectionTimeoutMs: 5000,
  /** Bad lines logged one by one per connection; the rest are counted. */
  loggedBadLinesPerConnection: 3,
};

export type HotplugLimits = typeof HOTPLUG_LIMITS;

/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

const required = (what: string) => ({
  error: (issue: { input: unknown }) => (issue.input === undefined ? "is required" : `must be ${what}`),
});

const action = z
  .string(required("a string"))
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, "must be a lowercase word like ifup, add or routable");

const interfaceName = z
  .string(required("a string"))
  .refine(isInterfaceName, "must be an interface name (1-15 of A-Z a-z 0-9 _ . -)");

/**
 * What an `iface` hook names: a Linux interface (networkd, NetworkManager) or a netifd logical interface (OpenWrt's
 * INTERFACE, a UCI section name such as wan6 or vpn_office_backup), which is not bound by the kernel's 15 bytes.
 * The agent never passes it to a command: it only triggers a snapshot.
 */
const LOGICAL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** True for what an `iface` hint may name: a Linux interface name or a netifd logical name (see above). */
export const isLogicalInterfaceName = (name: string): boolean => LOGICAL_NAME.test(name);
const logicalInterfaceName = z
  .string(required("a string"))
  .regex(
    LOGICAL_NAME,
    "must be an interface name or a netifd logical name (1-64 of A-Z a-z 0-9 _ . -, not starting with . or -)",
  );

const mac = z.string(required("a string")).transform((s, ctx) => {
  const m = normalizeMac(s);
  if (m === undefined) {
    ctx.addIssue({ code: "custom", message: "must be a MAC address like 02:00:00:00:01:00" });
    return z.NEVER;
  }
  return m;
});

const ip = z.string(required("a string")).transform((s, ctx) => {
  if (isIPv4(s)) return s;
  const v6 = canonicalIPv6(s);
  if (v6 === undefined) {
    ctx.addIssue({ code: "custom", message: "must be an IPv4 or IPv6 address" });
    return z.NEVER;
  }
  return v6;
});

export const hotplugMessageSchema = z.discriminatedUnion(
  "kind",
  [
    /** An interface changed: OpenWrt iface hotplug, networkd-dispatcher, NetworkManager dispatcher. */
    z.strictObject({
      kind: z.literal("iface"),
      action,
      interface: logicalInterfaceName,
      device: interfaceName.optional(),
    }),
    /** A DHCP lease was added, renewed or removed: OpenWrt dhcp hotplug, dnsmasq --dhcp-script. */
    z.strictObject({ kind: z.literal("dhcp"), action, mac: mac.optional(), ip: ip.optional() }),
    /** A neighbour (ARP) entry came or went: OpenWrt neigh hotplug, dnsmasq --script-arp. */
    z.strictObject({
      kind: z.literal("neigh"),
      action,
      mac: mac.optional(),
      ip: ip.optional(),
      interface: interfaceName.optional(),
    }),
  ],
  { error: () => "must be iface, dhcp or neigh" },
);

export type HotplugMessage = z.output<typeof hotplugMessageSchema>;
export type HotplugKind = HotplugMessage["kind"];
export const HOTPLUG_KINDS: readonly HotplugKind[] = ["iface", "dhcp", "neigh"];

export type ParseResult = { ok: true; message: HotplugMessage } | { ok: false; error: string };

/** Validates a message object (already decoded from JSON or built from key=value arguments). */
export function validateHotplugMessage(value: unknown): ParseResult {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, error: "not a JSON object" };
  }
  const result = hotplugMessageSchema.safeParse(value);
  return result.success
    ? { ok: true, message: result.data }
    : { ok: false, error: formatIssues(result.error).join("; ") };
}

/** Parses one line as sent on the socket. */
export function parseHotplugLine(line: string): ParseResult {
  if (Buffer.byteLength(line, "utf8") > HOTPLUG_LIMITS.maxLineBytes) {
    return { ok: false, error: `longer than ${HOTPLUG_LIMITS.maxLineBytes} bytes` };
  }
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { ok: false, error: "not valid JSON" };
  }
  return validateHotplugMessage(value);
}

/** A short excerpt of untrusted input for a log line, control characters escaped so a terminal shows them. */
function preview(text: string): string {
  const short = text.length > 80 ? `${text.slice(0, 80)}...` : text;
  let out = "";
  for (const ch of short) {
    const code = ch.charCodeAt(0);
    out += code < 0x20 || (code >= 0x7f && code <= 0x9f) ? `\\u${code.toString(16).padStart(4, "0")}` : ch;
  }
  return out;
}

const errnoCode = (e: unknown): string | undefined =>
  e instanceof Error && "code" in e && typeof e.code === "string" ? e.code : undefined;

/** Resolves true when something accepts connections on the socket path. */
function somebodyListens(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection({ path });
    const done = (alive: boolean) => {
      clearTimeout(timeout);
      probe.destroy();
      resolve(alive);
    };
    const timeout = setTimeout(() => done(true), 500);
    probe.on("connect", () => done(true));
    // ECONNREFUSED: a socket file nobody listens on, left by an agent that was killed.
    probe.on("error", (e) => done(errnoCode(e) === "EAGAIN"));
  });
}

interface SocketIdentity {
  dev: number;
  ino: number;
}

/**
 * Listens on `path` with mode 0600 from the first moment: the server binds a temporary name in the same directory,
 * is chmod-ed, then renamed into place, which also replaces a stale socket atomically. A live socket (another
 * agent) and anything that is not a socket are left alone.
 */
async function listenPrivately(server: Server, path: string): Promise<SocketIdentity> {
  // Same directory, so the rename stays on one file system.
  const temporary = join(dirname(path), `.notify.${process.pid}`);
  if (
    Buffer.byteLength(temporary) > MAX_SOCKET_PATH_BYTES ||
    Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES
  ) {
    throw new Error(`socket path ${path} is too long for a Unix socket; choose a shorter runtimeDir`);
  }
  const existing = await lstat(path).catch((e: unknown) => {
    if (errnoCode(e) === "ENOENT") return undefined;
    throw e;
  });
  if (existing !== undefined) {
    if (!existing.isSocket()) throw new Error(`${path} exists and is not a socket; not replacing it`);
    if (await somebodyListens(path)) throw new Error(`another process is listening on ${path}`);
  }
  await rm(temporary, { force: true });
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once("error", onError);
    server.listen(temporary, () => {
      server.off("error", onError);
      resolve();
    });
  });
  try {
    await chmod(temporary, 0o600);
    await rename(temporary, path);
    const stat = await lstat(path);
    return { dev: stat.dev, ino: stat.ino };
  } catch (e) {
    server.close();
    await rm(temporary, { force: true });
    throw e;
  }
}

/** Removes the socket file if it is still the one we made (not one a newer agent put there). */
function removeIfOurs(path: string, identity: SocketIdentity | undefined): void {
  if (identity === undefined) return;
  try {
    const stat = lstatSync(path);
    if (stat.dev === identity.dev && stat.ino === identity.ino) unlinkSync(path);
  } catch {
    // Already gone.
  }
}

/** Splits a connection's bytes into lines, enforcing the per-line and per-connection limits. */
function serveConnection(
  socket: Socket,
  log: Logger,
  limits: HotplugLimits,
  emit: (message: HotplugMessage) => void,
): void {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let discarding = false;
  let received = 0;
  let badLines = 0;

  const reject = (reason: string, text?: string) => {
    badLines++;
    if (badLines <= limits.loggedBadLinesPerConnection) {
      log.warn(
        { reason, line: text === undefined ? undefined : preview(text) },
        "dropped a bad hotplug message",
      );
    }
  };
  const handleLine = (bytes: Buffer) => {
    const text = bytes.toString("utf8").replace(/\r$/, "");
    if (text.trim() === "") return;
    const parsed = parseHotplugLine(text);
    if (!parsed.ok) {
      reject(parsed.error, text);
      return;
    }
    log.debug({ hotplug: parsed.message }, "hotplug notification");
    emit(parsed.message);
  };
  const append = (part: Buffer): boolean => {
    if (discarding) return false;
    if (pendingBytes + part.length > limits.maxLineBytes) {
      pending = [];
      pendingBytes = 0;
      discarding = true;
      reject(`line longer than ${limits.maxLineBytes} bytes`);
      return false;
    }
    pending.push(part);
    pendingBytes += part.length;
    return true;
  };
  const endLine = (last: Buffer) => {
    if (append(last)) handleLine(Buffer.concat(pending));
    pending = [];
    pendingBytes = 0;
    discarding = false;
  };

  const deadline = setTimeout(() => {
    log.warn(
      { timeoutMs: limits.connectionTimeoutMs },
      "closed a hotplug connection that stayed open too long",
    );
    socket.destroy();
  }, limits.connectionTimeoutMs);

  socket.on("data", (chunk: Buffer) => {
    received += chunk.length;
    if (received > limits.maxBytesPerConnection) {
      log.warn({ limit: limits.maxBytesPerConnection }, "closed a hotplug connection that sent too much");
      socket.destroy();
      return;
    }
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      endLine(chunk.subarray(start, nl));
      start = nl + 1;
    }
    if (start < chunk.length) append(chunk.subarray(start));
  });
  socket.on("end", () => {
    // A last line without its newline still counts.
    if (pendingBytes > 0 && !discarding) handleLine(Buffer.concat(pending));
    pending = [];
    socket.end();
  });
  socket.on("error", (e) => log.debug({ error: String(e) }, "hotplug connection error"));
  socket.on("close", () => {
    clearTimeout(deadline);
    if (badLines > limits.loggedBadLinesPerConnection) {
      log.warn({ dropped: badLines }, "dropped bad hotplug messages on one connection");
    }
  });
}

function serve(socketPath: string, log: Logger, limits: HotplugLimits): Observable<HotplugMessage> {
  return new Observable<HotplugMessage>((subscriber) => {
    const connections = new Set<Socket>();
    let identity: SocketIdentity | undefined;
    let closed = false;
    const server = createServer((socket) => {
      connections.add(socket);
      socket.on("close", () => connections.delete(socket));
      serveConnection(socket, log, limits, (message) => subscriber.next(message));
    });
    server.maxConnections = limits.maxConnections;
    server.on("drop", () => log.warn("too many hotplug connections at once; refused one"));

    listenPrivately(server, socketPath).then(
      (id) => {
        if (closed) {
          server.close();
          removeIfOurs(socketPath, id);
          return;
        }
        identity = id;
        // Errors after listening (rare) restart the server through the retry below.
        server.on("error", (e) => subscriber.error(e));
        log.info({ socket: socketPath }, "listening for hotplug notifications");
      },
      (e: unknown) => subscriber.error(e),
    );

    return () => {
      closed = true;
      for (const socket of connections) socket.destroy();
      server.close();
      removeIfOurs(socketPath, identity);
    };
  });
}

/**
 * Messages from hooks on the Unix socket at `socketPath` (normally `<runtimeDir>/notify.sock`). Never errors: if
 * the socket cannot be made, that is logged and retried with backoff. Unsubscribing closes the server, its
 * connections and removes the socket file. `limits` overrides HOTPLUG_LIMITS (tests).
 */
export function hotplugMessages(
  socketPath: string,
  log: Logger,
  limits: Partial<HotplugLimits> = {},
): Observable<HotplugMessage> {
  const effective = { ...HOTPLUG_LIMITS, ...limits };
  return defer(() => serve(socketPath, log, effective)).pipe(
    retry({
      delay: (error: unknown, attempt) => {
        log.error(
          { socket: socketPath, error: String(error), attempt },
          "cannot serve hotplug notifications; retrying",
        );
        return timer(Math.min(1000 * 2 ** Math.min(attempt - 1, 5), 30000));
      },
      resetOnSuccess: true,
    }),
  );
}
