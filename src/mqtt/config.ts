// The `mqtt:` section of the configuration. Optional: without it the agent does its whole job and publishes nothing.
import { hostname as osHostname } from "node:os";
import * as z from "zod";
import { defaultNodeId, machineFingerprint } from "./identity.js";

// Control characters and characters a shell would interpret. Nothing we publish or log should carry them.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

const absolutePath = z
  .string()
  .refine((s) => s.startsWith("/") && !s.includes("\0") && s.length < 4096, "must be an absolute path");

/** A topic we publish under: no wildcards, no empty levels, no leading or trailing slash, no `$` prefix. */
export function topicProblem(topic: string): string | undefined {
  if (topic.length === 0) return "must not be empty";
  if (topic.length > 200) return "must be at most 200 characters";
  if (/[#+]/.test(topic)) return "must not contain the wildcards + or #";
  if (CONTROL.test(topic) || /\s/.test(topic)) return "must not contain spaces or control characters";
  if (topic.startsWith("$")) return "must not start with $ (reserved for the broker)";
  if (topic.startsWith("/") || topic.endsWith("/")) return "must not start or end with /";
  if (topic.includes("//")) return "must not contain empty levels (//)";
  return undefined;
}

const topic = z.string().superRefine((s, ctx) => {
  const problem = topicProblem(s);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});

/** The host name as it appears in the default base topic: lower case, topic-safe. */
export function topicHostname(name: string = osHostname()): string {
  const cleaned = name
    .toLowerCase()
    .replace(/[^a-z0-9_.-]/g, "_")
    .slice(0, 64);
  return cleaned.length > 0 ? cleaned : "localhost";
}

const brokerUrl = z.string().superRefine((s, ctx) => {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    // Not echoed: a mistyped URL may still carry a password.
    ctx.addIssue({ code: "custom", message: "is not a URL like mqtt://broker:1883" });
    return;
  }
  if (url.protocol !== "mqtt:" && url.protocol !== "mqtts:") {
    ctx.addIssue({ code: "custom", message: "must start with mqtt:// or mqtts://" });
  }
  if (url.hostname === "") ctx.addIssue({ code: "custom", message: "needs a host name" });
  // Credentials in the URL would end up in logs and process listings: they belong in username / passwordFile.
  if (url.username !== "" || url.password !== "") {
    ctx.addIssue({
      code: "custom",
      message: "must not contain credentials; use username and password or passwordFile",
    });
  }
  if ((url.pathname !== "" && url.pathname !== "/") || url.search !== "" || url.hash !== "") {
    ctx.addIssue({ code: "custom", message: "must be only scheme, host and port (no path or query)" });
  }
});

const printable = (max: number) =>
  z
    .string()
    .min(1, "must not be empty")
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !CONTROL.test(s), "must not contain control characters");

export const mqttConfigSchema = z
  .strictObject({
    url: brokerUrl,
    username: printable(256).optional(),
    password: z.string().max(1024, "must be at most 1024 characters").optional(),
    passwordFile: absolutePath.optional(),
    tls: z
      .strictObject({
        ca: absolutePath.optional(),
        cert: absolutePath.optional(),
        key: absolutePath.optional(),
        rejectUnauthorized: z.boolean().default(true),
      })
      .optional(),
    clientId: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 _ . -")
      .optional(),
    /** This gateway's name on MQTT: the default base topic is `sixgate/<nodeId>`. */
    nodeId: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 _ . -")
      .optional(),
    baseTopic: topic.optional(),
    discoveryPrefix: topic.default("homeassistant"),
    /** State and discovery only: no command subscription, no command entities in discovery. */
    readOnly: z.boolean().default(false),
    keepalive: z
      .number()
      .int()
      .min(5, "must be 5-3600 seconds")
      .max(3600, "must be 5-3600 seconds")
      .default(60),
  })
  .transform((c) => {
    // An explicit baseTopic or nodeId is kept as is (an upgraded installation keeps its Home Assistant device);
    // the default is unique per machine (identity.ts).
    const fingerprint =
      c.nodeId === undefined && c.baseTopic === undefined ? machineFingerprint() : undefined;
    const nodeId = c.nodeId ?? defaultNodeId(topicHostname(), fingerprint);
    const identitySource =
      c.baseTopic !== undefined
        ? "baseTopic"
        : c.nodeId !== undefined
          ? "nodeId"
          : (fingerprint?.source ?? "hostname");
    return { ...c, nodeId, baseTopic: c.baseTopic ?? `sixgate/${nodeId}`, identitySource };
  })
  .superRefine((c, ctx) => {
    if (c.password !== undefined && c.passwordFile !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["passwordFile"],
        message: "give password or passwordFile, not both",
      });
    }
    if ((c.password !== undefined || c.passwordFile !== undefined) && c.username === undefined) {
      ctx.addIssue({ code: "custom", path: ["username"], message: "is required when a password is given" });
    }
    if (c.tls !== undefined && !c.url.startsWith("mqtts://")) {
      ctx.addIssue({ code: "custom", path: ["tls"], message: "needs an mqtts:// url" });
    }
    if (c.tls !== undefined && (c.tls.cert === undefined) !== (c.tls.key === undefined)) {
      ctx.addIssue({ code: "custom", path: ["tls"], message: "cert and key go together" });
    }
    if (c.baseTopic === c.discoveryPrefix || c.baseTopic.startsWith(`${c.discoveryPrefix}/`)) {
      ctx.addIssue({ code: "custom", path: ["baseTopic"], message: "must not lie under discoveryPrefix" });
    }
  });

export type MqttConfig = z.output<typeof mqttConfigSchema>;
export type MqttConfigInput = z.input<typeof mqttConfigSchema>;
