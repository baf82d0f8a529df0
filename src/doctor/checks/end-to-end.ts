// End to end through each listener: a TCP connection to [wan]:listen from the gateway itself, held briefly so that
// a proxy that accepts and then fails to reach the device is caught.
import type { DeviceView, DoctorContext } from "../context.js";
import { blocksIPv6Bind, formatOwners } from "../parse/ss.js";
import type { Check } from "../types.js";
import { deviceCheckTitle } from "./naming.js";
import { listenAddressOf } from "./own-address.js";
import { connectProblem } from "./probe-text.js";
import { expandPorts } from "../../core/ports.js";

/** Who holds [wan]:listen when it is not our socat (as far as ss can tell), or undefined. */
function foreignHolder(ctx: DoctorContext, dv: DeviceView, wan: string, listen: number): string | undefined {
  if (!ctx.sockets.ok) return undefined;
  const pids = dv.ourPids.get(listen) ?? [];
  const holders = ctx.sockets.value.filter((s) => blocksIPv6Bind(s, wan, listen));
  const ours = holders.some((s) => s.owners.some((o) => pids.includes(o.pid)));
  const named = holders.filter((s) => s.owners.length > 0);
  return ours || named.length === 0 ? undefined : formatOwners(named.flatMap((s) => s.owners));
}

export function endToEndChecks(ctx: DoctorContext, dv: DeviceView): Check[] {
  const wan = listenAddressOf(ctx.config, dv.plan, ctx.facts.wanAddress);
  const lan = ctx.config.lan.interface;
  return expandPorts(dv.plan.ports)
    .sort((a, b) => a.listen - b.listen)
    .map((p): Check => {
      // The checks these fixes point at, as the report titles them.
      const listenerCheck = deviceCheckTitle(ctx, dv, `Listener :${p.listen}`);
      const devicePort = deviceCheckTitle(ctx, dv, `Device port ${p.target}`);
      const lanRoute = deviceCheckTitle(ctx, dv, "LAN subnet and route");
      const id = `end-to-end:${p.listen}`;
      const title = `End to end :${p.listen} -> ${p.target}`;
      if (!dv.plan.enabled)
        return { id, title, status: "skip", detail: "the proxy is disabled by the operator" };
      if (wan === undefined)
        return { id, title, status: "skip", detail: "no usable listen address (see above)" };
      const probe = dv.endToEnd.get(p.listen);
      if (probe === undefined) return { id, title, status: "skip", detail: "not probed" };
      const target = `${dv.plan.device.address ?? "the device"}:${p.target}`;
      const other = foreignHolder(ctx, dv, wan, p.listen);
      if (probe.ok && other !== undefined)
        return {
          id,
          title,
          status: "fail",
          detail: `[${wan}]:${p.listen} answered, but it is held by ${other}, not by sixgate: clients reach that program, not ${target}`,
          fix: `see ${listenerCheck} above`,
        };
      if (probe.ok && dv.unansweredTargets.has(p.target))
        return {
          id,
          title,
          status: "fail",
          detail:
            `[${wan}]:${p.listen} accepted the connection, but the listener's own connection to ${target} got no ` +
            `answer (SYN sent from ${dv.plan.lanAddress ?? "the LAN address"} on ${lan}, no reply): clients see a connection that never answers`,
          fix:
            `see ${lanRoute} and ${devicePort} above: the device is off or silent on that port, ` +
            "or the gateway drops its replies (reverse-path filtering, a firewall on the LAN side)",
        };
      const device = dv.deviceProbes.get(p.target);
      if (probe.ok && device !== undefined && !device.ok)
        // A silent device keeps socat's connect pending for connect-timeout, longer than this check waits.
        return {
          id,
          title,
          status: "warn",
          detail:
            `[${wan}]:${p.listen} accepted a connection and held it for ${ctx.settleMs} ms, but ${target} did not answer ` +
            `the gateway: the listener will close it after connect-timeout (${ctx.config.listener.connectTimeoutSec} s)`,
          fix: `see ${devicePort} above`,
        };
      if (probe.ok)
        return {
          id,
          title,
          status: "ok",
          detail: `[${wan}]:${p.listen} accepted a connection and kept it open for ${ctx.settleMs} ms; it leads to ${target}`,
        };
      const problem = connectProblem(probe.error ?? "failed", `[${wan}]`, p.listen);
      const closed = /closed at once/.test(problem);
      return {
        id,
        title,
        status: "fail",
        detail: closed
          ? `[${wan}]:${p.listen} ${problem}: the listener could not reach ${target}`
          : `[${wan}]:${p.listen}: ${problem}`,
        fix: closed ? `see ${devicePort} and ${lanRoute} above` : `see ${listenerCheck} above`,
      };
    });
}
