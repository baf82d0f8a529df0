// Dashboard commands on `<base>/request`, answered on `<base>/response` (the zigbee2mqtt bridge/request pattern).
// Everything is validated before anything is called: a refused request changes nothing.
import * as z from "zod";
import { deviceSchema, formatIssues, portsSchema } from "../config/schema.js";
import type { PortMap } from "../core/types.js";
import type { AgentControl, ProbeReport } from "../control.js";

export const COMMANDS = [
  "status",
  "reconcile",
  "restart-listeners",
  "probe",
  "enable",
  "disable",
  "reload-config",
  "set-ports",
  "reset-ports",
] as const;

export type CommandName = (typeof COMMANDS)[number];

/** The commands that concern one device: `args.device` names it (left out: every device, or the only one). */
export const DEVICE_COMMANDS = ["probe", "enable", "disable", "set-ports", "reset-ports"] as const;

type DeviceCommandName = (typeof DEVICE_COMMANDS)[number];

export type Command =
  | { name: Exclude<CommandName, DeviceCommandName> }
  | { name: Exclude<DeviceCommandName, "set-ports">; device?: string }
  | { name: "set-ports"; ports: PortMap[]; device?: string };

export type RequestId = string | number | null;

export interface CommandResponse {
  id: RequestId;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export type ParsedRequest =
  { ok: true; id: RequestId; command: Command } | { ok: false; response: CommandResponse };

/** Larger requests are refused unread. set-ports with its maximum of 64 mappings is about 2 KiB. */
export const MAX_REQUEST_BYTES = 8192;
const MAX_DEPTH = 6;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const SHELL = /[;&|$`<>\\'"(){}[\]*?!~#^]/;

/** Control characters or characters a shell would act on; no legitimate request string needs them. */
export function hasUnsafeCharacters(s: string): boolean {
  return CONTROL.test(s) || SHELL.test(s);
}

function fail(id: RequestId, error: string): ParsedRequest {
  return { ok: false, response: { id, ok: false, error } };
}

/** Walks a parsed JSON value; returns the path of the first unsafe string (key or value), or a depth problem. */
function scan(value: unknown, path: string, depth: number): string | undefined {
  if (depth > MAX_DEPTH) return `${path || "(request)"}: nested too deeply`;
  if (typeof value === "string") {
    return hasUnsafeCharacters(value) ? `${path}: contains shell or control characters` : undefined;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = scan(value[i], `${path}.${i}`, depth + 1);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (typeof value === "object" && value !== null) {
    for (const [key, inner] of Object.entries(value)) {
      if (hasUnsafeCharacters(key))
        return `${path || "(request)"}: a key contains shell or control characters`;
      const problem = scan(inner, path ? `${path}.${key}` : key, depth + 1);
      if (problem !== undefined) return problem;
    }
  }
  return undefined;
}

const idSchema = z.union([
  z.string().min(1, "must not be empty").max(64, "must be at most 64 characters"),
  z.number().int("must be a whole number").min(0).max(Number.MAX_SAFE_INTEGER),
]);

const envelopeSchema = z.strictObject({
  id: z.unknown().optional(),
  command: z
    .string({ error: (issue) => (issue.input === undefined ? "is required" : "must be a string") })
    .max(64, "must be at most 64 characters"),
  args: z.unknown().optional(),
});

const noArgs = z.strictObject({}).optional();
/** A device name as the config spells it (the same schema, so the same rule and message). */
const deviceArg = deviceSchema.shape.name.optional();
const deviceArgs = z.strictObject({ device: deviceArg }).optional();
const setPortsArgs = z.strictObject({ ports: portsSchema, device: deviceArg });

const isDeviceCommand = (name: CommandName): name is DeviceCommandName =>
  (DEVICE_COMMANDS as readonly string[]).includes(name);
const withDevice = (device: string | undefined) => (device === undefined ? {} : { device });

function issues(prefix: string, error: z.ZodError): string {
  return formatIssues(error)
    .map((line) =>
      line.startsWith("(top level)") ? `${prefix}${line.slice("(top level)".length)}` : `${prefix}.${line}`,
    )
    .join("; ");
}

/** Size, JSON, shape, command, arguments: the first problem found is the answer. */
export function parseRequest(payload: Buffer | string): ParsedRequest {
  const size = typeof payload === "string" ? Buffer.byteLength(payload) : payload.length;
  if (size > MAX_REQUEST_BYTES)
    return fail(null, `request too large: ${size} bytes (limit ${MAX_REQUEST_BYTES})`);
  const text = typeof payload === "string" ? payload : payload.toString("utf8");
  if (text.trim() === "") return fail(null, 'empty request: expected JSON {"id", "command", "args"}');

  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return fail(null, "request is not valid JSON");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return fail(null, 'request must be a JSON object {"id", "command", "args"}');
  }

  // The id is echoed back only when it is itself acceptable.
  const rawId = (raw as Record<string, unknown>).id;
  const idResult = idSchema.safeParse(rawId);
  const idUnsafe = typeof rawId === "string" && hasUnsafeCharacters(rawId);
  const id: RequestId = idResult.success && !idUnsafe ? idResult.data : null;
  if (rawId !== undefined && !idResult.success) return fail(null, issues("id", idResult.error));

  const unsafe = scan(raw, "", 0);
  if (unsafe !== undefined) return fail(id, unsafe);

  const envelope = envelopeSchema.safeParse(raw);
  if (!envelope.success) return fail(id, issues("request", envelope.error).replace(/^request\./, ""));
  const { command, args } = envelope.data;

  if (!(COMMANDS as readonly string[]).includes(command)) {
    return fail(id, `unknown command "${command}"; known commands: ${COMMANDS.join(", ")}`);
  }
  const name = command as CommandName;

  if (name === "set-ports") {
    const parsed = setPortsArgs.safeParse(args);
    if (!parsed.success) return fail(id, issues("args", parsed.error));
    return { ok: true, id, command: { name, ports: parsed.data.ports, ...withDevice(parsed.data.device) } };
  }
  if (isDeviceCommand(name)) {
    const parsed = deviceArgs.safeParse(args);
    if (!parsed.success) return fail(id, `${issues("args", parsed.error)} (${name} takes only device)`);
    return { ok: true, id, command: { name, ...withDevice(parsed.data?.device) } };
  }
  const parsed = noArgs.safeParse(args);
  if (!parsed.success) return fail(id, `${issues("args", parsed.error)} (${name} takes no arguments)`);
  return { ok: true, id, command: { name } };
}

export interface CommandContext {
  control: AgentControl;
  /** The state as it would be published now. */
  state: () => unknown;
  /** Told about a probe report a command produced (of one device, when named), so the state can show it. */
  onProbe: (report: ProbeReport, device?: string) => void;
}

/**
 * Checks a device command's `args.device` against the devices the agent has now; the error names the field and
 * the devices there are. A device may be left out, except by set-ports and reset-ports with several devices.
 */
export function deviceProblem(command: Command, devices: readonly string[]): string | undefined {
  if (!isDeviceCommand(command.name)) return undefined;
  const device = "device" in command ? command.device : undefined;
  const known = `devices: ${devices.join(", ")}`;
  if (device !== undefined) {
    return devices.includes(device) ? undefined : `args.device: no device named "${device}" (${known})`;
  }
  const needsName = command.name === "set-ports" || command.name === "reset-ports";
  return needsName && devices.length > 1
    ? `args.device: ${command.name} needs the device's name (${known})`
    : undefined;
}

/**
 * Runs a validated command. A device command naming no device the agent has (deviceProblem) is refused before the
 * agent is asked anything. Rejections of the control become the error text.
 */
export async function executeCommand(command: Command, ctx: CommandContext): Promise<unknown> {
  const { control } = ctx;
  const problem = deviceProblem(
    command,
    control.status().devices.map((d) => d.name),
  );
  if (problem !== undefined) throw new Error(problem);
  switch (command.name) {
    case "status":
      return ctx.state();
    case "reconcile":
      return (await control.reconcile()) ?? null;
    case "restart-listeners":
      await control.restartListeners();
      return {};
    case "probe": {
      const report = await control.probe(command.device);
      ctx.onProbe(report, command.device);
      return report;
    }
    case "enable":
    case "disable": {
      const enabled = command.name === "enable";
      await control.setEnabled(enabled, command.device);
      return { enabled, ...withDevice(command.device) };
    }
    case "reload-config":
      return control.reloadConfig();
    case "set-ports":
      await control.setPorts(command.ports, command.device);
      return { ports: command.ports, ...withDevice(command.device) };
    case "reset-ports":
      await control.resetPorts(command.device);
      return withDevice(command.device);
  }
}

export function errorText(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}
