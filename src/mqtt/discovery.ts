// Home Assistant device-based MQTT discovery: one retained message on `<prefix>/device/<id>/config` that declares
// the device and all its entities. Full key names only (no abbreviations), `default_entity_id` (not the deprecated
// `object_id`), availability from the agent's last will. Every template reads `<base>/state` (see state.ts).
// The gateway is one Home Assistant device. With a `devices:` list each LAN device is one more, linked to the
// gateway by `via_device`, on its own topic (subDeviceTopic); the one-device shorthand keeps 0.1's single device.
import { SHORTHAND_DEVICE } from "../config/schema.js";
import { PHASES } from "../core/phase.js";
import { AVAILABLE, NOT_AVAILABLE, subDeviceId, type Topics } from "./topics.js";

export type DiscoveryValue = string | number | boolean | string[];

export interface DiscoveryComponent {
  platform: "binary_sensor" | "sensor" | "button" | "switch";
  unique_id: string;
  default_entity_id: string;
  name: string;
  [key: string]: DiscoveryValue;
}

export interface DevicePayload {
  device: {
    identifiers: string[];
    name: string;
    manufacturer: string;
    model: string;
    /** sixgate's version: on the gateway only (a LAN device's software is not ours). */
    sw_version?: string;
    /** A LAN device: the gateway's identifier. */
    via_device?: string;
  };
  origin: { name: string; sw_version: string };
  availability_topic: string;
  payload_available: string;
  payload_not_available: string;
  qos: 0 | 1;
  components: Record<string, DiscoveryComponent>;
}

/** What the proxy switch and the buttons send: ordinary requests, answered on `<base>/response` with id null. */
export const PRESS_PAYLOADS = {
  reconcile: JSON.stringify({ command: "reconcile" }),
  restartListeners: JSON.stringify({ command: "restart-listeners" }),
  enable: JSON.stringify({ command: "enable" }),
  disable: JSON.stringify({ command: "disable" }),
} as const;

/** What a LAN device's proxy switch sends: enable / disable with its name. */
export function devicePressPayloads(device: string): { enable: string; disable: string } {
  return {
    enable: JSON.stringify({ command: "enable", args: { device } }),
    disable: JSON.stringify({ command: "disable", args: { device } }),
  };
}

/** Home Assistant entity ids are lower case `[a-z0-9_]`. */
function entitySlug(id: string): string {
  return id
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "_")
    .replace(/_+/g, "_")
    .replace(/^_|_$/g, "");
}

/** State-based entities become unavailable after this many health ticks without a state message. */
export const EXPIRE_AFTER_TICKS = 3;

export interface DiscoveryOptions {
  topics: Topics;
  version: string;
  /** Shown as the device name: `sixgate <hostname>`. */
  hostname: string;
  /** The longest wait between two health ticks, in seconds (see longestTickGapSec in src/config/health.ts). */
  tickIntervalSec: number;
  /** False for a read-only agent: no buttons, and the proxy switch becomes a binary sensor. Default true. */
  commands?: boolean;
  /**
   * True with a `devices:` list: the LAN devices are devices of their own (buildDeviceDiscovery), so the gateway
   * leaves out the one device's reachable and address entities. False (the shorthand, default): 0.1's entities.
   */
  perDevice?: boolean;
  /**
   * The shorthand's device has a hostname: its IPv6 address and DNS name are announced too (device_ipv6,
   * device_hostname). Without one they are left out, so a 0.1 installation sees the same payload byte for byte.
   */
  deviceName?: boolean;
}

type ComponentFactory = (
  key: string,
  platform: DiscoveryComponent["platform"],
  name: string,
  rest: Record<string, DiscoveryValue>,
) => DiscoveryComponent;

/** Components of the Home Assistant device `id`: `<id>_<key>` unique ids, entity ids from the id's slug. */
function componentsOf(id: string, tickIntervalSec: number): ComponentFactory {
  const slug = entitySlug(id);
  // The last will cannot tell Home Assistant about a broker that restarts from its store after a power cut of
  // gateway and broker together: it still holds our retained `online` and state. The state is republished on every
  // tick, so sensors that hear nothing for a few ticks expire to unavailable. Switches have no expire_after.
  const expireAfter = EXPIRE_AFTER_TICKS * tickIntervalSec;
  return (key, platform, name, rest) => ({
    platform,
    unique_id: `${id}_${key}`,
    default_entity_id: `${platform}.${slug}_${key}`,
    name,
    ...rest,
    ...(platform === "sensor" || platform === "binary_sensor" ? { expire_after: expireAfter } : {}),
  });
}

/**
 * The proxy switch of the state at `path` (`value_json` or one device's), sending these payloads; for a read-only
 * agent a binary sensor showing the state without a way to flip it.
 */
function proxyEnabled(
  component: ComponentFactory,
  topics: Topics,
  path: string,
  press: { enable: string; disable: string } | null,
): DiscoveryComponent {
  const enabledState = {
    state_topic: topics.state,
    value_template: `{{ 'ON' if ${path}.enabled else 'OFF' }}`,
    icon: "mdi:swap-horizontal",
  };
  if (press === null) {
    return component("proxy_enabled", "binary_sensor", "Proxy enabled", {
      ...enabledState,
      payload_on: "ON",
      payload_off: "OFF",
    });
  }
  return component("proxy_enabled", "switch", "Proxy enabled", {
    ...enabledState,
    state_on: "ON",
    state_off: "OFF",
    command_topic: topics.request,
    payload_on: press.enable,
    payload_off: press.disable,
  });
}

/** The listeners sensor of the state at `path`: how many run, with the total and each listener as attributes. */
function listenersUp(component: ComponentFactory, topics: Topics, path: string): DiscoveryComponent {
  return component("listeners_up", "sensor", "Listeners up", {
    state_topic: topics.state,
    value_template: `{{ ${path}.listenersUp }}`,
    state_class: "measurement",
    json_attributes_topic: topics.state,
    json_attributes_template: `{{ {'total': ${path}.listenersTotal, 'listeners': ${path}.listeners} | tojson }}`,
    icon: "mdi:lan-connect",
  });
}

/** The phase sensor of the state at `path`, with why it is not serving as attributes. */
function phase(component: ComponentFactory, topics: Topics, path: string): DiscoveryComponent {
  return component("phase", "sensor", "Phase", {
    device_class: "enum",
    options: [...PHASES],
    state_topic: topics.state,
    value_template: `{{ ${path}.phase }}`,
    json_attributes_topic: topics.state,
    json_attributes_template: `{{ {'reason': ${path}.reason, 'waiting_for': ${path}.waitingFor} | tojson }}`,
    icon: "mdi:state-machine",
  });
}

/**
 * The IPv6 address and DNS name entities of the device at `path` (`devices['name']` of the state), for users who
 * follow a renumbering without a DNS server; the name's update state (dns) is its attributes. Keys `<prefix>ipv6`
 * and `<prefix>hostname`.
 */
function addressAndName(
  component: ComponentFactory,
  topics: Topics,
  path: string,
  prefix: string,
): Record<string, DiscoveryComponent> {
  return {
    [`${prefix}ipv6`]: component(`${prefix}ipv6`, "sensor", "IPv6 address", {
      state_topic: topics.state,
      value_template: `{{ ${path}.ipv6Address if ${path}.ipv6Address else 'None' }}`,
      icon: "mdi:ip-network",
    }),
    [`${prefix}hostname`]: component(`${prefix}hostname`, "sensor", "DNS name", {
      state_topic: topics.state,
      value_template: `{{ ${path}.hostname if ${path}.hostname else 'None' }}`,
      json_attributes_topic: topics.state,
      json_attributes_template: `{{ (${path}.dns or {}) | tojson }}`,
      icon: "mdi:dns",
    }),
  };
}

/** What every payload of ours carries besides device and components: origin, and the agent's availability. */
const envelope = (topics: Topics, version: string) => ({
  origin: { name: "sixgate", sw_version: version },
  availability_topic: topics.availability,
  payload_available: AVAILABLE,
  payload_not_available: NOT_AVAILABLE,
  qos: 1 as const,
});

export function buildDiscovery({
  topics,
  version,
  hostname,
  tickIntervalSec,
  commands = true,
  perDevice = false,
  deviceName = false,
}: DiscoveryOptions): DevicePayload {
  const id = topics.deviceId;
  const state = topics.state;
  const component = componentsOf(id, tickIntervalSec);
  // The one device of the shorthand, as 0.1 announced it on the gateway.
  const shorthandDevice = (): Record<string, DiscoveryComponent> => ({
    reachable: component("reachable", "binary_sensor", "Device reachable over IPv6", {
      device_class: "connectivity",
      state_topic: state,
      value_template:
        "{% if value_json.device.reachable is none %}None{% elif value_json.device.reachable %}ON{% else %}OFF{% endif %}",
      payload_on: "ON",
      payload_off: "OFF",
      json_attributes_topic: state,
      json_attributes_template: "{{ value_json.probes | tojson }}",
    }),
  });
  // The entities that send commands; a read-only agent announces none of them.
  const buttons = (): Record<string, DiscoveryComponent> => ({
    reconcile: component("reconcile", "button", "Reconcile", {
      command_topic: topics.request,
      payload_press: PRESS_PAYLOADS.reconcile,
      icon: "mdi:sync",
    }),
    restart_listeners: component("restart_listeners", "button", "Restart listeners", {
      device_class: "restart",
      command_topic: topics.request,
      payload_press: PRESS_PAYLOADS.restartListeners,
    }),
  });

  return {
    device: {
      identifiers: [id],
      name: `sixgate ${hostname}`,
      manufacturer: "sixgate",
      model: "IPv6 to IPv4 port gateway",
      sw_version: version,
    },
    ...envelope(topics, version),
    components: {
      ...(perDevice ? {} : shorthandDevice()),
      phase: phase(component, topics, "value_json"),
      wan_ipv6: component("wan_ipv6", "sensor", "WAN IPv6", {
        state_topic: state,
        value_template: "{{ value_json.wan.address if value_json.wan.address else 'None' }}",
        icon: "mdi:ip-network",
      }),
      ...(perDevice
        ? {}
        : {
            device_ipv4: component("device_ipv4", "sensor", "Device IPv4", {
              state_topic: state,
              value_template: "{{ value_json.device.address if value_json.device.address else 'None' }}",
              icon: "mdi:ip",
            }),
          }),
      ...(!perDevice && deviceName
        ? addressAndName(component, topics, `value_json.devices['${SHORTHAND_DEVICE}']`, "device_")
        : {}),
      listeners_up: listenersUp(component, topics, "value_json"),
      reconcile_duration: component("reconcile_duration", "sensor", "Last reconcile duration", {
        state_topic: state,
        value_template: "{{ value_json.lastReconcile.durationMs if value_json.lastReconcile else 'None' }}",
        device_class: "duration",
        unit_of_measurement: "ms",
        state_class: "measurement",
        entity_category: "diagnostic",
      }),
      ...(commands ? buttons() : {}),
      proxy_enabled: proxyEnabled(component, topics, "value_json", commands ? PRESS_PAYLOADS : null),
    },
  };
}

/**
 * One LAN device of a `devices:` list as its own Home Assistant device, linked to the gateway (`via_device`): its
 * reachability, IPv4 address, listeners, phase and proxy switch, read from `devices.<name>` of the gateway's state.
 * Availability is the gateway's: without the agent nothing about the device is known.
 */
export function buildDeviceDiscovery(
  {
    topics,
    version,
    tickIntervalSec,
    commands = true,
  }: Omit<DiscoveryOptions, "hostname" | "perDevice" | "deviceName">,
  name: string,
): DevicePayload {
  const id = subDeviceId(topics, name);
  const state = topics.state;
  const component = componentsOf(id, tickIntervalSec);
  // Names are slugs ([a-z0-9_-]): safe inside a quoted Jinja key.
  const path = `value_json.devices['${name}']`;
  return {
    device: {
      identifiers: [id],
      name,
      manufacturer: "sixgate",
      model: "LAN device served over IPv6",
      via_device: topics.deviceId,
    },
    ...envelope(topics, version),
    components: {
      reachable: component("reachable", "binary_sensor", "Reachable over IPv6", {
        device_class: "connectivity",
        state_topic: state,
        value_template: `{% if ${path}.reachable is none %}None{% elif ${path}.reachable %}ON{% else %}OFF{% endif %}`,
        payload_on: "ON",
        payload_off: "OFF",
      }),
      address: component("address", "sensor", "IPv4 address", {
        state_topic: state,
        value_template: `{{ ${path}.address if ${path}.address else 'None' }}`,
        json_attributes_topic: state,
        json_attributes_template: `{{ {'mac': ${path}.mac, 'source': ${path}.source} | tojson }}`,
        icon: "mdi:ip",
      }),
      ...addressAndName(component, topics, path, ""),
      listeners_up: listenersUp(component, topics, path),
      phase: phase(component, topics, path),
      proxy_enabled: proxyEnabled(component, topics, path, commands ? devicePressPayloads(name) : null),
    },
  };
}
