// Every topic sixgate uses, derived from the configuration in one place.

export interface Topics {
  /** `online` / `offline`, retained; `offline` is also the last will. */
  availability: string;
  /** Retained JSON health snapshot. */
  state: string;
  /** Commands from dashboards: `{"id","command","args"}`. */
  request: string;
  /** Replies: `{"id","ok","result"?,"error"?}`. */
  response: string;
  /** Home Assistant's birth / last will topic. */
  haStatus: string;
  /** Home Assistant device-based discovery config, retained. */
  discovery: string;
  /** The id of the one Home Assistant device: `[a-zA-Z0-9_-]`, derived from the base topic. */
  deviceId: string;
}

export const AVAILABLE = "online";
export const NOT_AVAILABLE = "offline";

/** `sixgate/gw-1.lan` -> `sixgate_gw-1_lan`: the character class Home Assistant allows in discovery topics. */
export function deviceIdFor(baseTopic: string): string {
  return baseTopic.replace(/[^A-Za-z0-9_-]/g, "_");
}

export function topicsFor(config: { baseTopic: string; discoveryPrefix: string }): Topics {
  const base = config.baseTopic;
  const deviceId = deviceIdFor(base);
  return {
    availability: `${base}/availability`,
    state: `${base}/state`,
    request: `${base}/request`,
    response: `${base}/response`,
    haStatus: `${config.discoveryPrefix}/status`,
    discovery: `${config.discoveryPrefix}/device/${deviceId}/config`,
    deviceId,
  };
}

/** The Home Assistant device id of one LAN device of a `devices:` list: `<gateway id>_device_<name>`. */
export function subDeviceId(topics: Pick<Topics, "deviceId">, name: string): string {
  return `${topics.deviceId}_device_${name}`;
}

/** Where a LAN device's discovery config goes: next to the gateway's, under its own id. */
export function subDeviceTopic(topics: Pick<Topics, "discovery" | "deviceId">, name: string): string {
  return topics.discovery.replace(/\/[^/]+\/config$/, `/${subDeviceId(topics, name)}/config`);
}
