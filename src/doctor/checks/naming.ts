// How a device's checks are named: under the device's name when the config lists several devices, exactly as in
// 0.1 with the one-device shorthand (scripts and users read those ids and titles).
import type { DeviceView, DoctorContext } from "../context.js";

/** `cam/device-port:80` with `devices:`, `device-port:80` with the shorthand. */
export function deviceCheckId(ctx: DoctorContext, dv: DeviceView, id: string): string {
  return ctx.config.shorthand ? id : `${dv.plan.name}/${id}`;
}

/** "cam: device port 80" with `devices:`, "Device port 80" with the shorthand. */
export function deviceCheckTitle(ctx: DoctorContext, dv: DeviceView, title: string): string {
  return ctx.config.shorthand ? title : `${dv.plan.name}: ${lowerFirst(title)}`;
}

/** "Device port" -> "device port"; an acronym ("LAN subnet") stays as it is. */
const lowerFirst = (title: string) =>
  /^[A-Z][A-Z]/.test(title) ? title : `${title.charAt(0).toLowerCase()}${title.slice(1)}`;

/** Where the device's `mac` / `address` are set in the file: `device.mac` in the shorthand, else `devices[i].mac`. */
export function deviceField(ctx: DoctorContext, dv: DeviceView, field: "mac" | "address"): string {
  if (ctx.config.shorthand) return `device.${field}`;
  return `devices[${ctx.config.devices.findIndex((d) => d.name === dv.plan.name)}].${field}`;
}
