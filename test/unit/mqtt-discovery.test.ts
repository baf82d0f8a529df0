// The device discovery payload, checked against Home Assistant's documented MQTT discovery schema
// (homeassistant/components/mqtt/schemas.py DEVICE_DISCOVERY_SCHEMA and the platform schemas of binary_sensor,
// sensor, button and switch; see docs/home-assistant.md). The rules are restated here so the test can fail.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PHASES } from "../../src/core/phase.js";
import { longestTickGapSec } from "../../src/config/health.js";
import { createHash } from "node:crypto";
import { parseRequest } from "../../src/mqtt/commands.js";
import {
  buildDeviceDiscovery,
  buildDiscovery,
  EXPIRE_AFTER_TICKS,
  type DevicePayload,
} from "../../src/mqtt/discovery.js";
import { buildState, type HealthState } from "../../src/mqtt/state.js";
import { subDeviceTopic, topicsFor } from "../../src/mqtt/topics.js";
import { sampleReport, sampleStatus } from "../fakes/control.js";

const topics = topicsFor({ baseTopic: "sixgate/gw-1.lan", discoveryPrefix: "homeassistant" });
const payload: DevicePayload = buildDiscovery({
  topics,
  version: "1.2.3",
  hostname: "gw-1.lan",
  tickIntervalSec: 30,
});

/** homeassistant/helpers/config_validation.py: VALID_ENTITY_ID. */
const VALID_ENTITY_ID = /^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$/;
/** homeassistant/components/mqtt/discovery.py: TOPIC_MATCHER, after the prefix. */
const TOPIC_MATCHER = /^(\w+)\/(?:([a-zA-Z0-9_-]+)\/)?([a-zA-Z0-9_-]+)\/config$/;

const SUPPORTED_COMPONENTS = new Set([
  "alarm_control_panel",
  "binary_sensor",
  "button",
  "camera",
  "climate",
  "cover",
  "device_automation",
  "device_tracker",
  "event",
  "fan",
  "humidifier",
  "image",
  "lawn_mower",
  "light",
  "lock",
  "notify",
  "number",
  "scene",
  "select",
  "sensor",
  "siren",
  "switch",
  "tag",
  "text",
  "update",
  "vacuum",
  "valve",
  "water_heater",
]);

/** Keys every MQTT entity accepts (MQTT_ENTITY_COMMON_SCHEMA, availability, MQTT_BASE_SCHEMA). */
const COMMON_KEYS = [
  "platform",
  "name",
  "unique_id",
  "default_entity_id",
  "icon",
  "entity_category",
  "enabled_by_default",
  "json_attributes_topic",
  "json_attributes_template",
  "availability",
  "availability_topic",
  "availability_mode",
  "availability_template",
  "payload_available",
  "payload_not_available",
  "qos",
  "encoding",
  "entity_picture",
];

/** Platform keys from the MQTT integration docs: required ones, and all the ones allowed. */
const PLATFORMS: Record<string, { required: string[]; allowed: string[]; deviceClasses: string[] }> = {
  binary_sensor: {
    required: ["state_topic"],
    allowed: ["state_topic", "value_template", "payload_on", "payload_off", "device_class", "expire_after"],
    deviceClasses: ["connectivity", "problem", "running", "plug", "power", "update"],
  },
  sensor: {
    required: ["state_topic"],
    allowed: [
      "state_topic",
      "value_template",
      "device_class",
      "state_class",
      "unit_of_measurement",
      "options",
      "suggested_display_precision",
      "expire_after",
      "force_update",
    ],
    deviceClasses: ["enum", "duration", "timestamp", "data_rate"],
  },
  button: {
    required: ["command_topic"],
    allowed: ["command_topic", "command_template", "payload_press", "retain", "device_class"],
    deviceClasses: ["identify", "restart", "update"],
  },
  switch: {
    required: ["command_topic"],
    allowed: [
      "command_topic",
      "command_template",
      "state_topic",
      "value_template",
      "payload_on",
      "payload_off",
      "state_on",
      "state_off",
      "optimistic",
      "retain",
      "device_class",
    ],
    deviceClasses: ["outlet", "switch"],
  },
};

/** Abbreviations Home Assistant expands (abbreviations.py, plus device discovery's o / cmps / p); we use none. */
const ABBREVIATIONS = [
  "o",
  "cmps",
  "p",
  "dev",
  "ids",
  "mf",
  "mdl",
  "sw",
  "avty_t",
  "pl_avail",
  "pl_not_avail",
  "stat_t",
  "cmd_t",
  "val_tpl",
  "uniq_id",
  "obj_id",
  "dev_cla",
  "ent_cat",
  "json_attr_t",
  "json_attr_tpl",
  "pl_on",
  "pl_off",
  "pl_prs",
  "stat_on",
  "stat_off",
  "unit_of_meas",
  "stat_cla",
  "ic",
  "ops",
];

function isPublishTopic(t: unknown): boolean {
  return typeof t === "string" && t.length > 0 && !t.includes("#") && !t.includes("+") && !t.includes("\0");
}

/** Home Assistant's rules for each component: platform, keys, ids, device class, topics. Returns the unique ids. */
function checkComponents(payload: DevicePayload): Set<string> {
  const uniqueIds = new Set<string>();
  const entityIds = new Set<string>();
  for (const [key, component] of Object.entries(payload.components)) {
    assert.ok(SUPPORTED_COMPONENTS.has(component.platform), `${key}: platform ${component.platform}`);
    const platform = PLATFORMS[component.platform];
    assert.ok(platform, `${key}: a platform this test knows`);
    // check_unique_id: a component with options needs a unique_id.
    assert.ok(component.unique_id.length > 0, `${key}: unique_id`);
    assert.ok(!uniqueIds.has(component.unique_id), `${key}: unique_id must be unique`);
    uniqueIds.add(component.unique_id);
    assert.match(component.default_entity_id, VALID_ENTITY_ID, `${key}: default_entity_id`);
    assert.equal(component.default_entity_id.split(".")[0], component.platform, `${key}: entity id domain`);
    assert.ok(!entityIds.has(component.default_entity_id), `${key}: default_entity_id must be unique`);
    entityIds.add(component.default_entity_id);
    assert.equal("object_id" in component, false, `${key}: object_id is deprecated`);
    assert.ok(component.name.length > 0, `${key}: name`);
    for (const required of platform.required)
      assert.ok(required in component, `${key}: ${required} is required`);
    const allowed = new Set([...COMMON_KEYS, ...platform.allowed]);
    for (const k of Object.keys(component)) assert.ok(allowed.has(k), `${key}: unknown key ${k}`);
    if ("device_class" in component) {
      assert.ok(platform.deviceClasses.includes(String(component.device_class)), `${key}: device_class`);
    }
    if ("entity_category" in component) {
      assert.ok(
        ["config", "diagnostic"].includes(String(component.entity_category)),
        `${key}: entity_category`,
      );
    }
    for (const [k, v] of Object.entries(component)) {
      if (k.endsWith("_topic"))
        assert.ok(isPublishTopic(v), `${key}: ${k} must be a topic without wildcards`);
    }
  }
  return uniqueIds;
}

/** No abbreviated key anywhere (Home Assistant would expand them; full names are what we document). */
function checkNoAbbreviations(payload: DevicePayload): void {
  const walk = (value: unknown, path: string) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return;
    for (const [k, v] of Object.entries(value)) {
      if (path !== "components") assert.ok(!ABBREVIATIONS.includes(k), `${path}.${k} is an abbreviation`);
      walk(v, path ? `${path}.${k}` : k);
    }
  };
  walk(payload, "");
}

/** The device keys of homeassistant/components/mqtt/schemas.py (MQTT_ENTITY_DEVICE_INFO_SCHEMA). */
const DEVICE_KEYS = [
  "identifiers",
  "connections",
  "manufacturer",
  "model",
  "model_id",
  "name",
  "serial_number",
  "hw_version",
  "sw_version",
  "suggested_area",
  "via_device",
  "configuration_url",
];

/**
 * Every `value_json.a.b` and `value_json.devices['x'].b` a template reads exists in the state; braces balance.
 * Returns how many references were checked.
 */
function checkTemplates(payload: DevicePayload, state: HealthState, stateTopic: string): number {
  const resolve = (path: string[]): unknown => {
    let value: unknown = state;
    for (const part of path) {
      if (typeof value !== "object" || value === null || !(part in value)) return undefined;
      value = (value as Record<string, unknown>)[part];
    }
    return value;
  };
  let checked = 0;
  for (const [key, component] of Object.entries(payload.components)) {
    for (const [k, v] of Object.entries(component)) {
      if (!k.endsWith("_template")) continue;
      const template = String(v);
      for (const [open, close] of [
        [/{{/g, /}}/g],
        [/{%/g, /%}/g],
      ] as const) {
        assert.equal(
          (template.match(open) ?? []).length,
          (template.match(close) ?? []).length,
          `${key}.${k}`,
        );
      }
      for (const ref of template.matchAll(/value_json((?:\.[A-Za-z_][A-Za-z0-9_]*|\['[a-z0-9_-]+'\])+)/g)) {
        const path = [...(ref[1] ?? "").matchAll(/\.([A-Za-z_][A-Za-z0-9_]*)|\['([a-z0-9_-]+)'\]/g)].map(
          (m) => m[1] ?? m[2] ?? "",
        );
        assert.notEqual(resolve(path), undefined, `${key}.${k} reads value_json${ref[1]}, not in the state`);
        checked++;
      }
    }
    if ("state_topic" in component) assert.equal(component.state_topic, stateTopic, key);
  }
  return checked;
}

describe("Home Assistant device discovery payload", () => {
  test("goes to <prefix>/device/<id>/config with an id Home Assistant accepts", () => {
    assert.equal(topics.discovery, "homeassistant/device/sixgate_gw-1_lan/config");
    const match = TOPIC_MATCHER.exec(topics.discovery.slice("homeassistant/".length));
    assert.ok(match, "the topic must match Home Assistant's discovery topic pattern");
    assert.equal(match[1], "device");
  });

  test("has the required device, origin and components, and availability from the last will", () => {
    const keys = Object.keys(payload).sort();
    assert.deepEqual(keys, [
      "availability_topic",
      "components",
      "device",
      "origin",
      "payload_available",
      "payload_not_available",
      "qos",
    ]);
    assert.ok(payload.device.identifiers.length > 0, "a device needs at least one identifier");
    for (const id of payload.device.identifiers) assert.equal(typeof id, "string");
    assert.equal(payload.device.sw_version, "1.2.3");
    assert.equal(payload.origin.name, "sixgate", "origin.name is required");
    assert.equal(payload.origin.sw_version, "1.2.3");
    assert.deepEqual(Object.keys(payload.origin).sort(), ["name", "sw_version"]);
    assert.equal(payload.availability_topic, topics.availability);
    assert.equal(payload.payload_available, "online");
    assert.equal(payload.payload_not_available, "offline");
    assert.ok([0, 1, 2].includes(payload.qos));
  });

  test("every component is a valid entity of a supported platform", () => {
    checkComponents(payload);
  });

  test("uses full key names only: no abbreviation anywhere", () => {
    checkNoAbbreviations(payload);
  });

  test("has the entities the issue asks for", () => {
    const c = payload.components;
    assert.equal(c.reachable?.platform, "binary_sensor");
    assert.equal(c.reachable.device_class, "connectivity");
    assert.match(c.reachable.name, /reachable over IPv6/i);
    for (const key of ["phase", "wan_ipv6", "device_ipv4", "listeners_up", "reconcile_duration"]) {
      assert.equal(c[key]?.platform, "sensor", key);
    }
    assert.equal(c.reconcile_duration?.entity_category, "diagnostic");
    assert.equal(c.reconcile_duration.device_class, "duration");
    assert.equal(c.reconcile_duration.unit_of_measurement, "ms");
    assert.equal(c.phase?.device_class, "enum");
    assert.deepEqual(c.phase.options, [...PHASES]);
    assert.equal(c.reconcile?.platform, "button");
    assert.equal(c.restart_listeners?.platform, "button");
    assert.equal(c.proxy_enabled?.platform, "switch");
    for (const key of ["reconcile", "restart_listeners", "proxy_enabled"]) {
      assert.equal(c[key]?.command_topic, topics.request, key);
    }
  });

  test("state-based entities expire after a few health ticks without a state message", () => {
    // A broker restarting from its store after a power cut keeps our retained online and state: only
    // expire_after turns the entities unavailable then.
    const stateBased = Object.entries(payload.components).filter(
      ([, c]) => c.platform === "sensor" || c.platform === "binary_sensor",
    );
    assert.equal(stateBased.length, 6);
    for (const [key, component] of stateBased) assert.equal(component.expire_after, 90, key);
    for (const [key, component] of Object.entries(payload.components)) {
      if (component.platform === "button" || component.platform === "switch")
        assert.equal("expire_after" in component, false, `${key}: ${component.platform} has no expire_after`);
    }
    // Tied to the schedule: the longest gap between two ticks, times EXPIRE_AFTER_TICKS.
    const hourly = buildDiscovery({
      topics,
      version: "1",
      hostname: "gw",
      tickIntervalSec: longestTickGapSec("0 0 * * * *"),
    });
    assert.equal(hourly.components.phase?.expire_after, 3600 * EXPIRE_AFTER_TICKS);
    assert.equal(longestTickGapSec("*/30 * * * * *"), 30);
    assert.equal(longestTickGapSec("*/7 * * * * *"), 7); // 7, 7, ... then 4 at the minute
    assert.equal(longestTickGapSec("0,10 * * * * *"), 50);
  });

  test("read-only: no command entities; the proxy state is a binary sensor of the platform's keys", () => {
    const readOnly = buildDiscovery({
      topics,
      version: "1",
      hostname: "gw",
      tickIntervalSec: 30,
      commands: false,
    });
    for (const [key, component] of Object.entries(readOnly.components)) {
      const platform = PLATFORMS[component.platform];
      assert.ok(component.platform === "sensor" || component.platform === "binary_sensor", key);
      assert.ok(platform !== undefined, key);
      const allowed = new Set([...COMMON_KEYS, ...platform.allowed]);
      for (const k of Object.keys(component)) assert.ok(allowed.has(k), `${key}: unknown key ${k}`);
      assert.equal("command_topic" in component, false, key);
    }
    assert.equal(readOnly.components.proxy_enabled?.platform, "binary_sensor");
    assert.equal(
      readOnly.components.proxy_enabled.value_template,
      payload.components.proxy_enabled?.value_template,
    );
    assert.equal(readOnly.components.reconcile, undefined);
    assert.ok(!JSON.stringify(readOnly).includes(topics.request));
  });

  test("buttons and the switch send requests the command parser accepts", () => {
    const c = payload.components;
    const commands = [
      c.reconcile?.payload_press,
      c.restart_listeners?.payload_press,
      c.proxy_enabled?.payload_on,
    ]
      .concat([c.proxy_enabled?.payload_off])
      .map((p) => {
        const parsed = parseRequest(String(p));
        assert.ok(parsed.ok, String(p));
        return parsed.command.name;
      });
    assert.deepEqual(commands, ["reconcile", "restart-listeners", "enable", "disable"]);
    // The switch's state maps to its own state_on / state_off.
    assert.equal(c.proxy_enabled?.state_on, "ON");
    assert.equal(c.proxy_enabled.state_off, "OFF");
  });

  test("every template reads fields the state payload really has", () => {
    const state = buildState(sampleStatus(), sampleReport, "1.2.3", Date.parse("2026-01-01T00:05:00Z"));
    const checked = checkTemplates(payload, state, topics.state);
    assert.ok(checked >= 10, `only ${checked} template references checked`);
  });
});

describe("Home Assistant discovery with several devices", () => {
  const names = ["cam", "printer-2", "plc_1"];
  const common = { topics, version: "1.2.3", tickIntervalSec: 30 };
  const gateway = buildDiscovery({ ...common, hostname: "gw-1.lan", perDevice: true });
  const cases = names.map((name) => ({
    name,
    sub: buildDeviceDiscovery(common, name),
    readOnly: buildDeviceDiscovery({ ...common, commands: false }, name),
  }));
  const subs = cases.map((c) => c.sub);

  test("the one-device shorthand keeps 0.1's unique ids, entity ids and payload, byte for byte", () => {
    // Taken from sixgate 0.1's buildDiscovery (main at b260264) with these options: an upgrade must not give
    // Home Assistant new entities, or their history is lost.
    const snapshot: Record<string, { sha256: string; ids: string[] }> = {
      commands: {
        sha256: "56fcc04d9744435b3f0df4f4fd9eae09802b9b8e1f109d0baecc0b806c330982",
        ids: [
          "binary_sensor.sixgate_gw_1_lan_reachable sixgate_gw-1_lan_reachable",
          "sensor.sixgate_gw_1_lan_phase sixgate_gw-1_lan_phase",
          "sensor.sixgate_gw_1_lan_wan_ipv6 sixgate_gw-1_lan_wan_ipv6",
          "sensor.sixgate_gw_1_lan_device_ipv4 sixgate_gw-1_lan_device_ipv4",
          "sensor.sixgate_gw_1_lan_listeners_up sixgate_gw-1_lan_listeners_up",
          "sensor.sixgate_gw_1_lan_reconcile_duration sixgate_gw-1_lan_reconcile_duration",
          "button.sixgate_gw_1_lan_reconcile sixgate_gw-1_lan_reconcile",
          "button.sixgate_gw_1_lan_restart_listeners sixgate_gw-1_lan_restart_listeners",
          "switch.sixgate_gw_1_lan_proxy_enabled sixgate_gw-1_lan_proxy_enabled",
        ],
      },
      readOnly: {
        sha256: "021835a4524820ff2564f260431821d3a47b64931485ed0150cdaf14e9941ace",
        ids: [
          "binary_sensor.sixgate_gw_1_lan_reachable sixgate_gw-1_lan_reachable",
          "sensor.sixgate_gw_1_lan_phase sixgate_gw-1_lan_phase",
          "sensor.sixgate_gw_1_lan_wan_ipv6 sixgate_gw-1_lan_wan_ipv6",
          "sensor.sixgate_gw_1_lan_device_ipv4 sixgate_gw-1_lan_device_ipv4",
          "sensor.sixgate_gw_1_lan_listeners_up sixgate_gw-1_lan_listeners_up",
          "sensor.sixgate_gw_1_lan_reconcile_duration sixgate_gw-1_lan_reconcile_duration",
          "binary_sensor.sixgate_gw_1_lan_proxy_enabled sixgate_gw-1_lan_proxy_enabled",
        ],
      },
    };
    for (const [mode, expected] of Object.entries(snapshot)) {
      const shorthand = buildDiscovery({ ...common, hostname: "gw-1.lan", commands: mode === "commands" });
      const ids = Object.values(shorthand.components).map((c) => `${c.default_entity_id} ${c.unique_id}`);
      assert.deepEqual(ids, expected.ids, mode);
      assert.equal(
        createHash("sha256").update(JSON.stringify(shorthand)).digest("hex"),
        expected.sha256,
        mode,
      );
    }
  });

  test("the shorthand's device with a hostname adds its IPv6 address and DNS name, keeping every other id", () => {
    const plain = buildDiscovery({ ...common, hostname: "gw-1.lan" });
    const named = buildDiscovery({ ...common, hostname: "gw-1.lan", deviceName: true });
    const ids = (p: DevicePayload) => Object.values(p.components).map((c) => c.unique_id);
    assert.deepEqual(
      ids(named).filter((id) => !ids(plain).includes(id)),
      ["sixgate_gw-1_lan_device_ipv6", "sixgate_gw-1_lan_device_hostname"],
    );
    assert.ok(ids(plain).every((id) => ids(named).includes(id)));
    checkComponents(named);
    checkNoAbbreviations(named);
    const status = sampleStatus();
    const state = buildState(status, sampleReport, "1.2.3", Date.parse("2026-01-01T00:05:00Z"));
    checkTemplates(named, state, topics.state);
    assert.equal(
      named.components.device_ipv6?.value_template,
      "{{ value_json.devices['device'].ipv6Address if value_json.devices['device'].ipv6Address else 'None' }}",
    );
    // A devices list: the gateway has no such entities (each LAN device has its own).
    const listGateway = buildDiscovery({
      ...common,
      hostname: "gw-1.lan",
      perDevice: true,
      deviceName: true,
    });
    assert.equal(listGateway.components.device_ipv6, undefined);
  });

  test("the gateway and every LAN device pass the schema checks; unique ids are unique across them all", () => {
    const all = new Set<string>();
    for (const p of [gateway, ...subs]) {
      for (const id of checkComponents(p)) {
        assert.ok(!all.has(id), `unique id ${id} is used twice`);
        all.add(id);
      }
      checkNoAbbreviations(p);
      assert.deepEqual(Object.keys(p).sort(), Object.keys(payload).sort());
      for (const k of Object.keys(p.device)) assert.ok(DEVICE_KEYS.includes(k), `device.${k}`);
      assert.equal(p.availability_topic, topics.availability, "the agent's availability");
    }
    // Read-only announces the same entities (the switch a binary sensor): the same ids, so nothing is lost.
    for (const { sub, readOnly } of cases) {
      checkNoAbbreviations(readOnly);
      assert.deepEqual(
        checkComponents(readOnly),
        new Set(Object.values(sub.components).map((c) => c.unique_id)),
      );
    }
    assert.equal(all.size, Object.keys(gateway.components).length + 7 * names.length);
  });

  test("each LAN device is its own Home Assistant device linked to the gateway, on its own topic", () => {
    const seen = new Set<string>();
    for (const { name, sub, readOnly } of cases) {
      assert.equal(sub.device.via_device, gateway.device.identifiers[0]);
      assert.equal(sub.device.name, name);
      assert.equal(sub.device.sw_version, undefined, "the device's software is not sixgate's");
      const [id] = sub.device.identifiers;
      assert.ok(id !== undefined && !seen.has(id) && id !== gateway.device.identifiers[0], id);
      seen.add(id);
      const topic = subDeviceTopic(topics, name);
      assert.equal(topic, `homeassistant/device/${id}/config`);
      assert.notEqual(topic, topics.discovery);
      const match = TOPIC_MATCHER.exec(topic.slice("homeassistant/".length));
      assert.ok(match, topic);
      const c = sub.components;
      assert.equal(c.reachable?.platform, "binary_sensor");
      assert.equal(c.reachable.device_class, "connectivity");
      assert.equal(c.address?.platform, "sensor");
      assert.equal(c.ipv6?.platform, "sensor");
      assert.equal(c.hostname?.platform, "sensor");
      assert.equal(
        c.hostname.json_attributes_template,
        `{{ (value_json.devices['${name}'].dns or {}) | tojson }}`,
      );
      assert.equal(c.listeners_up?.platform, "sensor");
      assert.equal(c.phase?.platform, "sensor");
      assert.deepEqual(c.phase.options, [...PHASES]);
      assert.equal(c.proxy_enabled?.platform, "switch");
      assert.equal(readOnly.components.proxy_enabled?.platform, "binary_sensor");
      assert.ok(!JSON.stringify(readOnly).includes(topics.request), "read-only: no command topic");
    }
  });

  test("the gateway of a devices list leaves the per-device entities to the devices", () => {
    const c = gateway.components;
    assert.equal(c.reachable, undefined);
    assert.equal(c.device_ipv4, undefined);
    for (const key of [
      "phase",
      "wan_ipv6",
      "listeners_up",
      "reconcile_duration",
      "reconcile",
      "proxy_enabled",
    ]) {
      assert.ok(c[key], key);
      assert.equal(c[key].unique_id, payload.components[key]?.unique_id, `${key} keeps its id`);
    }
  });

  test("a LAN device's templates read its own entry of the state", () => {
    const status = sampleStatus();
    const [first] = status.devices;
    assert.ok(first);
    const state = buildState(
      { ...status, devices: names.map((name) => ({ ...first, name })) },
      sampleReport,
      "1.2.3",
      Date.parse("2026-01-01T00:05:00Z"),
    );
    assert.ok(checkTemplates(gateway, state, topics.state) >= 8);
    for (const { name, sub } of cases) {
      assert.ok(checkTemplates(sub, state, topics.state) >= 12, name);
      assert.match(String(sub.components.address?.value_template), new RegExp(`devices\\['${name}'\\]`));
    }
    // The check can fail: a device the state does not have.
    assert.throws(() => checkTemplates(buildDeviceDiscovery(common, "ghost"), state, topics.state), /ghost/);
  });

  test("a LAN device's switch sends enable and disable with its name", () => {
    const c = buildDeviceDiscovery(common, "printer-2").components.proxy_enabled;
    assert.ok(c);
    const sent = [c.payload_on, c.payload_off].map((p) => {
      const parsed = parseRequest(String(p));
      assert.ok(parsed.ok, String(p));
      return parsed.command;
    });
    assert.deepEqual(sent, [
      { name: "enable", device: "printer-2" },
      { name: "disable", device: "printer-2" },
    ]);
    assert.equal(c.command_topic, topics.request);
  });
});
