// MQTT health, dashboard commands and Home Assistant discovery. See docs/mqtt.md and docs/home-assistant.md.
export { startMqtt } from "./session.js";
export type { StartMqttOptions, MqttHandle, MqttView } from "./session.js";
export { cleanupMqtt } from "./cleanup.js";
export { loadSecrets, MqttSetupError } from "./secrets.js";
export { MAX_CONCURRENT_COMMANDS } from "./responder.js";
export { mqttConfigSchema, type MqttConfig, type MqttConfigInput } from "./config.js";
export { mqttRedactPaths, scrubSecrets } from "./redact.js";
export { topicsFor, type Topics } from "./topics.js";
export { buildState, type HealthState, type StatusExtras } from "./state.js";
export { COMMANDS, MAX_REQUEST_BYTES, parseRequest, type CommandResponse } from "./commands.js";
export { buildDiscovery } from "./discovery.js";
