// The agent: running for this runtimeDir, and its phase. MQTT: connected, if the agent's status reports it.
import type { WaitingFor } from "../../core/types.js";
import type { DoctorContext } from "../context.js";
import type { Check } from "../types.js";

const LOGS = "journalctl -u sixgate (OpenWrt: logread -e sixgate)";

const WAITING_CHECK: Record<WaitingFor, string> = {
  "wan-link": "WAN link",
  "wan-address": "WAN IPv6 address",
  "lan-link": "LAN link",
  "lan-address": "LAN subnet and route",
  device: "Device address",
  "own-address": "Own IPv6 address",
};

/** The check that tells why the agent waits. */
export const waitingCheck = (w: WaitingFor | null) => (w === null ? "failing" : WAITING_CHECK[w]);

export function agentCheck(ctx: DoctorContext): Check {
  const id = "agent";
  const title = "Agent";
  const { pid, status } = ctx.agent;
  if (pid === undefined)
    return {
      id,
      title,
      status: "fail",
      detail: `no sixgate agent is running for runtimeDir ${ctx.config.runtimeDir}`,
      fix: `start it: systemctl start sixgate (OpenWrt: /etc/init.d/sixgate start); if it stops again, see ${LOGS}`,
    };
  if (status === undefined)
    return {
      id,
      title,
      status: "warn",
      detail: `pid ${pid} runs but has written no status yet`,
      fix: "run doctor again in a moment",
    };
  const since = `pid ${pid}, version ${status.version}, since ${status.startedAt}`;
  const reason = status.reason === null ? "" : `: ${status.reason}`;
  switch (status.phase) {
    case "serving":
      return { id, title, status: "ok", detail: `serving (${since})` };
    case "waiting":
      return {
        id,
        title,
        status: "fail",
        detail: `waiting for ${status.waitingFor ?? "?"}${reason} (${since})`,
        fix: `see the ${waitingCheck(status.waitingFor)} check`,
      };
    case "degraded":
      return {
        id,
        title,
        status: "fail",
        detail: `degraded${reason} (${since})`,
        fix: `see the checks above and ${LOGS}`,
      };
    case "disabled":
      return {
        id,
        title,
        status: "warn",
        detail: `the proxy is disabled by the operator (${since})`,
        fix: "enable it from the dashboard (MQTT command enable)",
      };
    default:
      return {
        id,
        title,
        status: "warn",
        detail: `${status.phase}${reason} (${since})`,
        fix: "a change is being applied; run doctor again in a few seconds",
      };
  }
}

export function mqttCheck(ctx: DoctorContext): Check {
  const id = "mqtt";
  const title = "MQTT";
  if (ctx.agent.pid === undefined || ctx.agent.status === undefined)
    return { id, title, status: "skip", detail: "no running agent to ask" };
  const mqtt = ctx.agent.mqtt;
  if (mqtt === null) return { id, title, status: "skip", detail: "MQTT is not configured" };
  if (mqtt === undefined)
    return {
      id,
      title,
      status: "skip",
      detail: "the agent's status does not report MQTT (not configured, or not reported by this version)",
    };
  const broker = mqtt.broker === undefined ? "the broker" : mqtt.broker;
  if (mqtt.connected) return { id, title, status: "ok", detail: `connected to ${broker}` };
  return {
    id,
    title,
    status: "warn",
    detail: `not connected to ${broker}; the proxy keeps working, the dashboard is blind`,
    fix: `check the broker runs and the mqtt settings (URL, credentials, TLS); the agent reconnects by itself (${LOGS})`,
  };
}
