// The `mqtt:` config section: defaults, and every refusal naming its field.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatIssues } from "../../src/config/schema.js";
import { DEFAULT_HEALTH_SCHEDULE, healthConfigSchema, scheduleProblem } from "../../src/config/health.js";
import { mqttConfigSchema, topicHostname, topicProblem } from "../../src/mqtt/config.js";
import { topicsFor } from "../../src/mqtt/topics.js";

function problems(input: unknown): string[] {
  const result = mqttConfigSchema.safeParse(input);
  return result.success ? [] : formatIssues(result.error);
}

describe("mqtt config", () => {
  test("defaults", () => {
    const config = mqttConfigSchema.parse({ url: "mqtt://broker.lan" });
    assert.match(config.baseTopic, new RegExp(`^sixgate/${topicHostname()}(-[0-9a-f]{8})?$`));
    assert.equal(config.discoveryPrefix, "homeassistant");
    assert.equal(config.keepalive, 60);
    assert.deepEqual(healthConfigSchema.parse(undefined), {
      schedule: DEFAULT_HEALTH_SCHEDULE,
      timeoutMs: 2000,
    });
    assert.equal(DEFAULT_HEALTH_SCHEDULE, "*/30 * * * * *");
    assert.equal(config.username, undefined);
    assert.equal(config.tls, undefined);
  });

  test("a full section", () => {
    const config = mqttConfigSchema.parse({
      url: "mqtts://broker.lan:8883",
      username: "sixgate",
      passwordFile: "/etc/sixgate/mqtt-password",
      tls: { ca: "/etc/ssl/ca.pem", cert: "/etc/ssl/c.pem", key: "/etc/ssl/c.key" },
      clientId: "sixgate-gw1",
      baseTopic: "site/gw1",
      discoveryPrefix: "ha",
      keepalive: 30,
    });
    assert.equal(config.tls?.rejectUnauthorized, true);
    assert.deepEqual(topicsFor(config), {
      availability: "site/gw1/availability",
      state: "site/gw1/state",
      request: "site/gw1/request",
      response: "site/gw1/response",
      haStatus: "ha/status",
      discovery: "ha/device/site_gw1/config",
      deviceId: "site_gw1",
    });
  });

  const refused: [name: string, input: Record<string, unknown>, problem: RegExp][] = [
    ["no url", {}, /^url: /],
    ["http url", { url: "http://broker" }, /^url: must start with mqtt:\/\/ or mqtts:\/\//],
    ["not a url", { url: "broker:1883" }, /^url: /],
    ["credentials in the url", { url: "mqtt://u:secret@broker" }, /^url: must not contain credentials/],
    ["a path in the url", { url: "mqtt://broker/x" }, /^url: must be only scheme, host and port/],
    [
      "password and passwordFile",
      { url: "mqtt://b", username: "u", password: "p", passwordFile: "/p" },
      /^passwordFile: give password or passwordFile, not both/,
    ],
    [
      "password without username",
      { url: "mqtt://b", password: "p" },
      /^username: is required when a password is given/,
    ],
    [
      "relative passwordFile",
      { url: "mqtt://b", username: "u", passwordFile: "p.txt" },
      /^passwordFile: must be an absolute path/,
    ],
    ["tls with mqtt://", { url: "mqtt://b", tls: {} }, /^tls: needs an mqtts:\/\/ url/],
    ["cert without key", { url: "mqtts://b", tls: { cert: "/c" } }, /^tls: cert and key go together/],
    ["unknown tls key", { url: "mqtts://b", tls: { insecure: true } }, /^tls: unknown key\(s\): insecure/],
    [
      "wildcard in baseTopic",
      { url: "mqtt://b", baseTopic: "sixgate/#" },
      /^baseTopic: must not contain the wildcards/,
    ],
    [
      "plus in discoveryPrefix",
      { url: "mqtt://b", discoveryPrefix: "ha+" },
      /^discoveryPrefix: must not contain the wildcards/,
    ],
    [
      "trailing slash",
      { url: "mqtt://b", baseTopic: "sixgate/" },
      /^baseTopic: must not start or end with \//,
    ],
    ["empty level", { url: "mqtt://b", baseTopic: "a//b" }, /^baseTopic: must not contain empty levels/],
    ["$ topic", { url: "mqtt://b", baseTopic: "$SYS/x" }, /^baseTopic: must not start with \$/],
    ["space in topic", { url: "mqtt://b", baseTopic: "my gw" }, /^baseTopic: must not contain spaces/],
    [
      "baseTopic under the discovery prefix",
      { url: "mqtt://b", baseTopic: "homeassistant/gw" },
      /^baseTopic: must not lie under discoveryPrefix/,
    ],
    ["clientId with a space", { url: "mqtt://b", clientId: "a b" }, /^clientId: must be 1-64 of/],
    ["keepalive too small", { url: "mqtt://b", keepalive: 1 }, /^keepalive: must be 5-3600 seconds/],
    ["unknown key", { url: "mqtt://b", host: "b" }, /unknown key\(s\): host/],
    [
      "username with a newline",
      { url: "mqtt://b", username: "a\nb" },
      /^username: must not contain control characters/,
    ],
  ];
  for (const [name, input, problem] of refused) {
    test(`refuses ${name}`, () => {
      const found = problems(input);
      assert.ok(
        found.some((p) => problem.test(p)),
        `expected ${String(problem)} in:\n  ${found.join("\n  ")}`,
      );
    });
  }

  test("no refusal repeats a secret", () => {
    const found = [
      ...problems({ url: "mqtt://user:hunter2secret@b", password: "hunter2secret" }),
      ...problems({ url: "mqtt//user:hunter2secret@b" }),
      ...problems({ url: "mqtt://b", username: "u", password: 42 }),
      ...problems({ url: "mqtt://b", username: "u", password: "hunter2secret".repeat(100) }),
    ];
    assert.ok(found.length >= 4);
    for (const p of found) assert.ok(!p.includes("hunter2secret"), p);
  });

  test("topic and schedule helpers", () => {
    assert.equal(topicProblem("sixgate/gw1"), undefined);
    assert.equal(topicProblem(""), "must not be empty");
    assert.equal(scheduleProblem("*/30 * * * * *"), undefined);
    assert.equal(scheduleProblem("0 */5 * * * *"), undefined);
    assert.ok(scheduleProblem("* * *") !== undefined);
    assert.equal(topicHostname("GW-1.Lan"), "gw-1.lan");
    assert.equal(topicHostname("a+b#c d"), "a_b_c_d");
    assert.equal(topicHostname(""), "localhost");
  });
});
