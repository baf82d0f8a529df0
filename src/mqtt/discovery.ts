// Home Assistant device-based MQTT discovery: one retained message on `<prefix>/device/<id>/config` that declares
// the device and all its entities. Full key names only (no abbreviations), `default_entity_id` (not the deprecated
// `object_id`), availability from the agent's last will. Every template reads `<base>/state` (see state.ts).
import { PHASES } from "../core/phase.js";
import { AVAILABLE, NOT_AVAILABLE, type Topics } from "./topics.js";

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
    sw_version: string;
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
}

export function buildDiscovery({
  topics,
  version,
  hostname,
  tickIntervalSec,
  commands = true,
}: DiscoveryOptions): DevicePayload {
  const id = topics.deviceId;
  const slug = entitySlug(id);
  const state = topics.state;
  // The last will cannot tell Home Assistant about a broker that restarts from its store after a power cut of
  // gateway and broker together: it still holds our retained `online` and state. The state is republished on every
  // tick, so sensors that hear nothing for a few ticks expire to unavailable. Switches have no expire_after.
  const expireAfter = EXPIRE_AFTER_TICKS * tickIntervalSec;
  const component = (
    key: string,
    platform: DiscoveryComponent["platform"],
    name: string,
    rest: Record<string, DiscoveryValue>,
  ): DiscoveryComponent => ({
    platform,
    unique_id: `${id}_${key}`,
    default_entity_id: `${platform}.${slug}_${key}`,
    name,
    ...rest,
    ...(platform === "sensor" || platform === "binary_sensor" ? { expire_after: expireAfter } : {}),
  });

  const enabledState = {
    state_topic: state,
    value_template: "{{ 'ON' if value_json.enabled else 'OFF' }}",
    icon: "mdi:swap-horizontal",
  };
  // The entities that send commands; a read-only agent announces none of them.
  const controls = (): Record<string, DiscoveryComponent> => ({
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
    proxy_enabled: component("proxy_enabled", "switch", "Proxy enabled", {
      ...enabledState,
      state_on: "ON",
      state_off: "OFF",
      command_topic: topics.request,
      payload_on: PRESS_PAYLOADS.enable,
      payload_off: PRESS_PAYLOADS.disable,
    }),
  });
  // Read-only: the proxy switch's state, shown without a way to flip it.
  const proxyEnabledSensor = () =>
    component("proxy_enabled", "binary_sensor", "Proxy enabled", {
      ...enabledState,
      payload_on: "ON",
      payload_off: "OFF",
    });

  return {
    device: {
      identifiers: [id],
      name: `sixgate ${hostname}`,
      manufacturer: "sixgate",
      model: "IPv6 to IPv4 port gateway",
      sw_version: version,
    },
    origin: { name: "sixgate", sw_version: version },
    availability_topic: topics.availability,
    payload_available: AVAILABLE,
    payload_not_available: NOT_AVAILABLE,
    qos: 1,
    components: {
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
      phase: component("phase", "sensor", "Phase", {
        device_class: "enum",
        options: [...PHASES],
        state_topic: state,
        value_template: "{{ value_json.phase }}",
        json_attributes_topic: state,
        json_attributes_template:
          "{{ {'reason': value_json.reason, 'waiting_for': value_json.waitingFor} | tojson }}",
        icon: "mdi:state-machine",
      }),
      wan_ipv6: component("wan_ipv6", "sensor", "WAN IPv6", {
        state_topic: state,
        value_template: "{{ value_json.wan.address if value_json.wan.address else 'None' }}",
        icon: "mdi:ip-network",
      }),
      device_ipv4: component("device_ipv4", "sensor", "Device IPv4", {
        state_topic: state,
        value_template: "{{ value_json.device.address if value_json.device.address else 'None' }}",
        icon: "mdi:ip",
      }),
      listeners_up: component("listeners_up", "sensor", "Listeners up", {
        state_topic: state,
        value_template: "{{ value_json.listenersUp }}",
        state_class: "measurement",
        json_attributes_topic: state,
        json_attributes_template:
          "{{ {'total': value_json.listenersTotal, 'listeners': value_json.listeners} | tojson }}",
        icon: "mdi:lan-connect",
      }),
      reconcile_duration: component("reconcile_duration", "sensor", "Last reconcile duration", {
        state_topic: state,
        value_template: "{{ value_json.lastReconcile.durationMs if value_json.lastReconcile else 'None' }}",
        device_class: "duration",
        unit_of_measurement: "ms",
        state_class: "measurement",
        entity_category: "diagnostic",
      }),
      ...(commands ? controls() : { proxy_enabled: proxyEnabledSensor() }),
    },
  };
}
