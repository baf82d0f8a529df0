// Runs doctorCommand as `sixgate doctor` would, for the lab tests: node --import tsx doctor-entry.ts CONFIG [--json].
// It stands in for the CLI until the command is wired into src/cli/main.ts, and tests the same function.
import { loadConfig } from "../../src/config/load.js";
import { doctorCommand } from "../../src/cli/doctor.js";
import { createLogger } from "../../src/cli/logger.js";

const [configPath, ...flags] = process.argv.slice(2);
if (configPath === undefined) {
  process.stderr.write("usage: doctor-entry.ts CONFIG [--json]\n");
  process.exit(64);
}
const json = flags.includes("--json");
doctorCommand(await loadConfig(configPath), json, createLogger("silent")).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`doctor: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(2);
  },
);
