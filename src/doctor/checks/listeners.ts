// Each listener bound on [wan]:listen, and by whom: our socat (by pid, from the agent's own records), or another
// program already holding the port.
import type { DeviceView, DoctorContext } from "../context.js";
import { blocksIPv6Bind, formatOwners, formatSocket, type ListeningSocket } from "../parse/ss.js";
import type { Check } from "../types.js";
import { waitingCheck } from "./agent.js";
import { deviceCheckTitle } from "./naming.js";
import { expandPorts } from "../../core/ports.js";
import { listenAddressOf } from "./own-address.js";

const LOGS = "the agent's log (journalctl -u sixgate; on OpenWrt: logread -e sixgate)";

/** A wildcard that covers every IPv6 address: it blocks our bind whatever the WAN address is. */
const blocksAnyIPv6 = (s: ListeningSocket) =>
  s.family === "any" || (s.family === "inet6" && s.address === "::");

function whyNothing(ctx: DoctorContext, dv: DeviceView, listen: number): { detail: string; fix: string } {
  const status = ctx.agent.status;
  if (ctx.agent.pid === undefined)
    return { detail: "", fix: "start the agent (systemctl start sixgate, or /etc/init.d/sixgate start)" };
  if (status === undefined) return { detail: "", fix: `see ${LOGS}` };
  const mine = status.listeners.find((l) => l.device === dv.plan.name && l.listen === listen);
  // A wait of the gateway's (the agent's phase), else this device's own (its address, with several devices).
  const own = status.devices.find((d) => d.name === dv.plan.name);
  const waiting = status.phase === "waiting" ? status : own?.phase === "waiting" ? own : undefined;
  if (waiting !== undefined)
    return {
      detail: `; the agent is waiting for ${waiting.waitingFor ?? "something"}`,
      // Its own address and LAN route are checks of this device (named after it when there are several).
      fix: `see the ${
        waiting.waitingFor === "device" || waiting.waitingFor === "lan-address"
          ? deviceCheckTitle(ctx, dv, waitingCheck(waiting.waitingFor))
          : waitingCheck(waiting.waitingFor)
      } check`,
    };
  if (mine === undefined) return { detail: "; the agent has no listener for it", fix: `see ${LOGS}` };
  return {
    detail: `; the agent reports it ${mine.state}${mine.lastError === null ? "" : `: ${mine.lastError}`}`,
    fix: `see ${LOGS}`,
  };
}

function listenerCheck(
  ctx: DoctorContext,
  dv: DeviceView,
  sockets: ListeningSocket[],
  listen: number,
): Check {
  const wan = listenAddressOf(ctx.config, dv.plan, ctx.facts.wanAddress);
  const id = `listener:${listen}`;
  const title = wan === undefined ? `Listener :${listen}` : `Listener [${wan}]:${listen}`;
  const pids = dv.ourPids.get(listen) ?? [];
  const onPort = sockets.filter((s) => s.port === listen);
  const isOurs = (s: ListeningSocket) => s.owners.some((o) => pids.includes(o.pid));
  const ours = onPort.filter(isOurs);
  const blocking = onPort.filter(
    (s) => !isOurs(s) && (wan === undefined ? blocksAnyIPv6(s) : blocksIPv6Bind(s, wan, listen)),
  );
  const harmless = onPort.filter((s) => !isOurs(s) && !blocking.includes(s));
  const note =
    harmless.length === 0
      ? ""
      : `; also on port ${listen}, no conflict: ${harmless.map((s) => `${formatOwners(s.owners)} on ${formatSocket(s)}`).join(", ")}`;
  const socatPids = (list: ListeningSocket[]) =>
    [...new Set(list.flatMap((s) => s.owners.filter((o) => pids.includes(o.pid)).map((o) => o.pid)))].join(
      ", ",
    );

  const known = blocking.filter((s) => s.owners.length > 0);
  if (known.length > 0) {
    const holders = known.map((s) => `${formatSocket(s)} is held by ${formatOwners(s.owners)}`).join("; ");
    return {
      id,
      title,
      status: "fail",
      detail: `${holders}, not by sixgate: our socat cannot bind ${wan === undefined ? `:${listen}` : `[${wan}]:${listen}`}${note}`,
      fix:
        `stop that program, or move it off port ${listen} on the WAN side (bind a web UI to the LAN address only), ` +
        `or choose another listen port in ports[]`,
    };
  }
  if (blocking.length > 0 && ours.length === 0) {
    return {
      id,
      title,
      status: "warn",
      detail: `${blocking.map(formatSocket).join(", ")} is held by a process ss could not name${note}`,
      fix: "run doctor as root to see which program holds the port",
    };
  }
  if (wan === undefined) {
    if (ours.length > 0)
      return {
        id,
        title,
        status: "warn",
        detail: `our socat (pid ${socatPids(ours)}) is still bound on ${ours.map(formatSocket).join(", ")} though there is no usable WAN address`,
        fix: "the agent stops it once it notices; if it stays, restart the agent",
      };
    return {
      id,
      title,
      status: "skip",
      detail: `no usable WAN address to listen on (see WAN IPv6 address)${note}`,
    };
  }
  const right = ours.filter((s) => s.family === "inet6" && s.address === wan);
  if (right.length > 0) {
    if (ctx.agent.pid === undefined)
      return {
        id,
        title,
        status: "warn",
        detail: `bound on [${wan}]:${listen} by socat pid ${socatPids(right)}, left by an agent that no longer runs${note}`,
        fix: "start the agent (it stops what an earlier run left and starts afresh), or run sixgate cleanup",
      };
    return {
      id,
      title,
      status: "ok",
      detail: `bound on [${wan}]:${listen} by our socat (pid ${socatPids(right)})${note}`,
    };
  }
  if (ours.length > 0) {
    return {
      id,
      title,
      status: "fail",
      detail: `our socat (pid ${socatPids(ours)}) listens on ${ours.map(formatSocket).join(", ")}, not on [${wan}]:${listen}${note}`,
      fix: "the agent moves its listeners when the WAN address changes; if this persists, restart it",
    };
  }
  const why = whyNothing(ctx, dv, listen);
  return {
    id,
    title,
    status: "fail",
    detail: `nothing listens on [${wan}]:${listen}${why.detail}${note}`,
    fix: why.fix,
  };
}

export function listenerChecks(ctx: DoctorContext, dv: DeviceView): Check[] {
  const listens = expandPorts(dv.plan.ports)
    .map((p) => p.listen)
    .sort((a, b) => a - b);
  return listens.map((listen): Check => {
    const id = `listener:${listen}`;
    const title = `Listener :${listen}`;
    if (!dv.plan.enabled)
      return { id, title, status: "skip", detail: "the proxy is disabled by the operator" };
    if (!ctx.sockets.ok)
      return {
        id,
        title,
        status: "warn",
        detail: `cannot list listening sockets: ${ctx.sockets.error}`,
        fix: "install ss (iproute2) and run doctor as root",
      };
    return listenerCheck(ctx, dv, ctx.sockets.value, listen);
  });
}
