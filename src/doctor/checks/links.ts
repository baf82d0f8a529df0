// WAN link up, LAN link up: the interface exists, is administratively up, and has a carrier.
import type { DoctorContext } from "../context.js";
import type { Check } from "../types.js";

export function linkCheck(ctx: DoctorContext, side: "wan" | "lan"): Check {
  const name = ctx.config[side].interface;
  const id = `${side}-link`;
  const title = `${side.toUpperCase()} link ${name}`;
  if (!ctx.links.ok) {
    return {
      id,
      title,
      status: "fail",
      detail: `cannot read the interfaces: ${ctx.links.error}`,
      fix: "run doctor on the gateway as root; `ip -json addr show` must work",
    };
  }
  const link = ctx.links.value.find((l) => l.name === name);
  if (link === undefined) {
    const present = ctx.links.value.map((l) => l.name).join(", ");
    return {
      id,
      title,
      status: "fail",
      detail: `there is no interface named ${name} (present: ${present})`,
      fix: `set ${side}.interface in the config to the ${side === "wan" ? "WAN" : "LAN"} interface's name`,
    };
  }
  if (!link.adminUp) {
    return {
      id,
      title,
      status: "fail",
      detail: `${name} is administratively down`,
      fix: `bring it up: ip link set ${name} up (OpenWrt: ifup ${side})`,
    };
  }
  if (!link.carrier) {
    return {
      id,
      title,
      status: "fail",
      detail: `${name} is up but has no carrier (NO-CARRIER)`,
      fix:
        side === "wan"
          ? "plug the WAN cable in; check the modem or the upstream switch port is on"
          : "plug the cable to the device in; check the device is powered",
    };
  }
  return { id, title, status: "ok", detail: `${name} is up with carrier` };
}
