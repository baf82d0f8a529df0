// The report as people read it: one line per check, the fix under it, the verdict last.
import type { Config } from "../core/types.js";
import type { CheckStatus, DoctorReport } from "./types.js";

const LABEL: Record<CheckStatus, string> = { ok: "ok", warn: "WARN", fail: "FAIL", skip: "skip" };
const MAX_TITLE = 36;

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

export function formatReport(report: DoctorReport, config: Config): string {
  const mappings = (d: Config["devices"][number]) =>
    d.ports.map((p) => `${p.listen}->${p.target}`).join(", ");
  // The shorthand's one device needs no name; several are told apart by theirs.
  const ports = config.shorthand
    ? config.devices.map(mappings).join("")
    : config.devices.map((d) => `${d.name} ${mappings(d)}`).join("; ");
  const width = Math.min(MAX_TITLE, Math.max(...report.checks.map((c) => c.title.length)));
  const lines = [`sixgate doctor: ${config.wan.interface} -> ${config.lan.interface}, ports ${ports}`, ""];
  for (const c of report.checks) {
    lines.push(`${LABEL[c.status].padEnd(5)} ${c.title.padEnd(width)}  ${c.detail}`);
    if (c.fix !== undefined && (c.status === "fail" || c.status === "warn"))
      lines.push(`${" ".repeat(6 + width + 2)}fix: ${c.fix}`);
  }
  const { counts } = report;
  const first = report.checks.find((c) => c.id === report.firstFailure);
  lines.push(
    "",
    `verdict: ${LABEL[report.verdict]}: ${counts.fail} failed, ${plural(counts.warn, "warning")}, ${counts.ok} ok, ${counts.skip} skipped` +
      (first === undefined ? "" : `; start with: ${first.title}`),
  );
  return lines.join("\n");
}
