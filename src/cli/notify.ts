// `sixgate notify <kind> [key=value...]`: what the hotplug and DHCP hooks call. Builds one message, validates it
// exactly as the agent will, writes it as one line to the agent's socket and gives up within a second.
// A stopped agent is not an error (exit 0): a hook must never fail because sixgate is not running.
import { createConnection } from "node:net";
import {
  HOTPLUG_KINDS,
  notifySocketPath,
  validateHotplugMessage,
  type HotplugMessage,
  type ParseResult,
} from "../sources/hotplug.js";

export const NOTIFY_USAGE = `usage: sixgate notify iface action=ACTION interface=NAME [device=NAME]
       sixgate notify dhcp  action=ACTION [mac=MAC] [ip=ADDRESS]
       sixgate notify neigh action=ACTION [mac=MAC] [ip=ADDRESS] [interface=NAME]
A key given with an empty value (device=) counts as not given.`;

/** Exit codes (sysexits.h). */
export const NOTIFY_EXIT = { ok: 0, usage: 64, noPermission: 77, tempFail: 75, failed: 1 } as const;

/** The whole attempt (connect, write, wait for the agent to take it) ends within this. */
export const NOTIFY_TIMEOUT_MS = 800;

/** Builds and validates a message from `kind` and `key=value` arguments. */
export function buildNotifyMessage(kind: string | undefined, keyValues: readonly string[]): ParseResult {
  if (kind === undefined || kind === "") return { ok: false, error: "missing kind (iface, dhcp or neigh)" };
  if (!(HOTPLUG_KINDS as readonly string[]).includes(kind)) {
    return { ok: false, error: `unknown kind ${JSON.stringify(kind)} (expected iface, dhcp or neigh)` };
  }
  const fields: Record<string, string> = {};
  const seen = new Set<string>();
  for (const arg of keyValues) {
    const eq = arg.indexOf("=");
    if (eq <= 0) return { ok: false, error: `expected key=value, got ${JSON.stringify(arg)}` };
    const key = arg.slice(0, eq);
    const value = arg.slice(eq + 1);
    if (key === "kind") return { ok: false, error: "kind is given as the first argument, not as kind=" };
    if (seen.has(key)) return { ok: false, error: `${key} is given twice` };
    seen.add(key);
    if (value !== "") fields[key] = value;
  }
  return validateHotplugMessage({ kind, ...fields });
}

export type SendOutcome =
  | { kind: "sent" }
  | { kind: "not-running"; code: string }
  | { kind: "timeout" }
  | { kind: "busy"; code: string }
  | { kind: "denied" }
  | { kind: "failed"; error: string };

/** Writes one message line to the socket; resolves (never rejects) within about timeoutMs. */
export function sendNotification(
  socketPath: string,
  message: HotplugMessage,
  timeoutMs = NOTIFY_TIMEOUT_MS,
): Promise<SendOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    let written = false;
    const socket = createConnection({ path: socketPath });
    const finish = (outcome: SendOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    // Once the line is in the socket's buffer the agent will read it, even if it is too slow to close in time.
    const timer = setTimeout(() => finish(written ? { kind: "sent" } : { kind: "timeout" }), timeoutMs);
    socket.on("connect", () => {
      socket.end(`${JSON.stringify(message)}\n`, () => {
        written = true;
      });
    });
    socket.on("error", (e: NodeJS.ErrnoException) => {
      const code = e.code ?? "";
      if (code === "ENOENT" || code === "ECONNREFUSED" || code === "ENOTDIR") {
        finish({ kind: "not-running", code });
      } else if (code === "EACCES" || code === "EPERM") {
        finish({ kind: "denied" });
      } else if (code === "EAGAIN" || code === "EPIPE" || code === "ECONNRESET") {
        // The agent's backlog is full or it closed the connection at once (too many at the same time).
        finish(written ? { kind: "sent" } : { kind: "busy", code });
      } else {
        finish({ kind: "failed", error: e.message });
      }
    });
    // The agent closes its side once it has read our line.
    socket.on("close", () => finish(written ? { kind: "sent" } : { kind: "busy", code: "closed" }));
    socket.resume();
  });
}

export async function notifyCommand(
  runtimeDir: string,
  kind: string | undefined,
  keyValues: string[],
): Promise<number> {
  const err = (text: string) => process.stderr.write(`sixgate notify: ${text}\n`);
  const built = buildNotifyMessage(kind, keyValues);
  if (!built.ok) {
    err(built.error);
    process.stderr.write(`${NOTIFY_USAGE}\n`);
    return NOTIFY_EXIT.usage;
  }
  const socketPath = notifySocketPath(runtimeDir);
  const outcome = await sendNotification(socketPath, built.message);
  switch (outcome.kind) {
    case "sent":
      return NOTIFY_EXIT.ok;
    case "not-running":
      err(`no agent is listening on ${socketPath} (${outcome.code}); nothing to do`);
      return NOTIFY_EXIT.ok;
    case "denied":
      err(`permission denied on ${socketPath}; hooks must run as root or as the agent's user`);
      return NOTIFY_EXIT.noPermission;
    case "timeout":
      err(`the agent did not accept the message within ${NOTIFY_TIMEOUT_MS} ms; giving up`);
      return NOTIFY_EXIT.tempFail;
    case "busy":
      err(`the agent is busy (${outcome.code}); giving up`);
      return NOTIFY_EXIT.tempFail;
    case "failed":
      err(`cannot reach the agent on ${socketPath}: ${outcome.error}`);
      return NOTIFY_EXIT.failed;
  }
}
