// Running `sixgate doctor` inside the lab's gateway namespace, and reading its report.
import { z } from "zod";
import { AGENT_CLI, waitFor, type Lab, type LabProcess } from "./lab.js";

const checkSchema = z.object({
  id: z.string(),
  title: z.string(),
  status: z.enum(["ok", "warn", "fail", "skip"]),
  detail: z.string(),
  fix: z.string().optional(),
});
export const reportSchema = z.object({
  verdict: z.enum(["ok", "warn", "fail"]),
  counts: z.object({ ok: z.number(), warn: z.number(), fail: z.number(), skip: z.number() }),
  firstFailure: z.string().nullable(),
  checks: z.array(checkSchema),
});
export type DoctorCheck = z.infer<typeof checkSchema>;
export type DoctorReport = z.infer<typeof reportSchema>;

/** `sixgate doctor` from the built CLI, as an operator runs it. */
function doctorArgv(configPath: string, json: boolean): string[] {
  return [process.execPath, AGENT_CLI, "doctor", "--config", configPath, ...(json ? ["--json"] : [])];
}

export interface DoctorRun {
  exitCode: number | undefined;
  report: DoctorReport;
}

/** `sixgate doctor --json` in the gateway namespace. Bounded: doctor's probes take a few seconds at most. */
export async function runDoctor(lab: Lab, configPath: string): Promise<DoctorRun> {
  const r = await lab.exec("gw", doctorArgv(configPath, true), { timeoutMs: 30_000 });
  let report: DoctorReport;
  try {
    report = reportSchema.parse(JSON.parse(r.stdout));
  } catch (e) {
    throw new Error(
      `doctor printed no report (exit ${String(r.exitCode)}): ${String(e)}\n${r.stdout}\n${r.stderr}`,
    );
  }
  return { exitCode: r.exitCode, report };
}

/** The text a person reads. */
export async function runDoctorText(
  lab: Lab,
  configPath: string,
): Promise<{ exitCode: number | undefined; text: string }> {
  const r = await lab.exec("gw", doctorArgv(configPath, false), { timeoutMs: 30_000 });
  return { exitCode: r.exitCode, text: r.stdout };
}

/** One line per check, for assertion messages. */
export function describeReport(report: DoctorReport): string {
  return report.checks
    .map((c) => `${c.status.padEnd(4)} ${c.id}: ${c.detail}${c.fix ? ` [fix: ${c.fix}]` : ""}`)
    .join("\n");
}

export function checkOf(report: DoctorReport, id: string): DoctorCheck {
  const c = report.checks.find((x) => x.id === id);
  if (c === undefined) throw new Error(`no check ${id} in\n${describeReport(report)}`);
  return c;
}

/** Checks that did not pass, as "id status". */
export function notOk(report: DoctorReport): string[] {
  return report.checks
    .filter((c) => c.status !== "ok" && c.status !== "skip")
    .map((c) => `${c.id} ${c.status}`);
}

/** A program that is not sixgate holding [address]:port in the gateway, as a router's web UI would. */
export async function startForeignListener(lab: Lab, address: string, port: number): Promise<LabProcess> {
  const proc = lab.spawn(
    "gw",
    ["busybox", "httpd", "-f", "-p", `[${address}]:${port}`, "-h", lab.dir],
    `foreign-${port}`,
  );
  await waitFor(
    async () => (await lab.listeningTcp("gw")).some((l) => l.port === port && l.address === `[${address}]`),
    {
      timeoutMs: 5_000,
      message: () => lab.readLog(`foreign-${port}`),
    },
  );
  return proc;
}
