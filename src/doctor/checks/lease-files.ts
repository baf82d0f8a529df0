// Which lease files were read, in which format, with how many leases: a file in a format we do not read is named
// as such here, so that a device "without a lease" is never blamed for a file we could not understand.
import { leaseFiles } from "../../config/schema.js";
import { UNRECOGNISED_FORMAT, type LeaseFileReport } from "../../core/leases.js";
import type { DoctorContext } from "../context.js";
import type { Check, CheckStatus } from "../types.js";

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

function describe(r: LeaseFileReport): { status: CheckStatus; text: string } {
  const skipped = r.badLines > 0 ? `, ${plural(r.badLines, "line")} skipped (no lease record)` : "";
  switch (r.format) {
    case "unknown":
      return { status: "fail", text: UNRECOGNISED_FORMAT };
    case "unreadable":
      return { status: "fail", text: `cannot read: ${r.error ?? "error"}` };
    case "missing":
      return { status: "warn", text: "does not exist" };
    case "empty":
      return { status: "ok", text: "empty (no lease)" };
    default:
      return {
        status: r.badLines > 0 || r.error !== undefined ? "warn" : "ok",
        text: `${r.format}, ${plural(r.leases, "lease")}${skipped}${r.error === undefined ? "" : `, ${r.error}`}`,
      };
  }
}

const RANK: Record<CheckStatus, number> = { skip: 0, ok: 1, warn: 2, fail: 3 };

export function leaseFilesCheck(ctx: DoctorContext): Check {
  const id = "lease-files";
  const title = "Lease files";
  const reports = ctx.facts.leaseFiles;
  if (reports.length === 0)
    return { id, title, status: "skip", detail: `not read (${leaseFiles(ctx.config).join(", ")})` };
  const described = reports.map((r) => ({ ...describe(r), file: r.file }));
  const detail = described.map((d) => `lease file ${d.file}: ${d.text}`).join("; ");
  if (ctx.config.devices.every((d) => d.address !== undefined))
    return { id, title, status: "skip", detail: `not needed: every device has its address set (${detail})` };
  const status = described.map((d) => d.status).reduce((a, b) => (RANK[b] > RANK[a] ? b : a), "ok");
  if (status === "ok") return { id, title, status, detail };
  const fix = described.some((d) => d.status === "fail")
    ? "sixgate reads dnsmasq's lease file (dhcp-leasefile, OpenWrt: /tmp/dhcp.leases) and odhcpd's state file " +
      "(uci get dhcp.odhcpd.leasefile, usually /tmp/hosts/odhcpd): point leases at those, or set device.address"
    : "check the paths in leases (or device.leases) against the DHCP server's lease file; skipped lines are logged";
  return { id, title, status, detail, fix };
}
