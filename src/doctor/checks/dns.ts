// DNS names that follow: the authoritative server answers each name the agent keeps with its current address.
import type { DnsNameView, DoctorContext } from "../context.js";
import type { Check } from "../types.js";

function dnsCheck(view: DnsNameView): Check {
  const id = `dns:${view.name}`;
  const title = `DNS name ${view.name}`;
  const { expected, answer, agent } = view;
  if (expected === null || answer === undefined)
    return { id, title, status: "skip", detail: "no usable address to point it at yet" };
  if (!answer.ok)
    return {
      id,
      title,
      status: "fail",
      detail: `cannot ask the server: ${answer.error}`,
      fix: "install dig (Debian: bind9-dnsutils, OpenWrt: bind-dig) and check that dns.server is reachable from the gateway",
    };
  const answered = answer.value.length === 0 ? "no AAAA record" : answer.value.join(", ");
  if (answer.value.length === 1 && answer.value[0] === expected)
    return { id, title, status: "ok", detail: `answers ${expected}` };
  const fix =
    agent === undefined
      ? "the agent updates it while it runs: start it, then see sixgate status"
      : agent.state === "failed"
        ? `the agent's updates fail: ${agent.lastError ?? "?"}`
        : `the agent's update is ${agent.state}; run doctor again in a moment`;
  return {
    id,
    title,
    status: "fail",
    detail: `answers ${answered}, not the current address ${expected}`,
    fix,
  };
}

/** One check per name; none without a `dns:` section. */
export function dnsChecks(ctx: DoctorContext): Check[] {
  return ctx.dns.map(dnsCheck);
}
