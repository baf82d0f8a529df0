// `sixgate doctor [--config F] [--json]`: one line per hop with a verdict and the fix to try; exit 1 if any failed.
import type { Logger } from "pino";
import type { Config } from "../core/types.js";
import { formatReport, runDoctor } from "../doctor/index.js";
import { createRunner } from "../effects/exec.js";

export async function doctorCommand(config: Config, json: boolean, log: Logger): Promise<number> {
  const report = await runDoctor(config, { runner: createRunner(log, config.commandTimeoutMs), log });
  process.stdout.write(`${json ? JSON.stringify(report, null, 2) : formatReport(report, config)}\n`);
  // A warning is worth reading but breaks nothing: only a failure makes the exit code non-zero.
  return report.verdict === "fail" ? 1 : 0;
}
