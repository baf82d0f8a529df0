// `npm run soak`: the chaos soak (test/lab/soak.ts) for SOAK_SECONDS (default 600), with SOAK_SEED to replay a run.
// Figures go to stdout and to SOAK_RESULTS_DIR (default bench/results/) as soak-latest.json / .txt. Exits 1 when
// a request failed outside a switch window, a disturbance did not heal or the agent died.
import { join } from "node:path";
import { REPO_ROOT } from "./lab.js";
import { runSoak } from "./soak.js";

const seconds = Number(process.env.SOAK_SECONDS ?? 600);
const seed = process.env.SOAK_SEED === undefined ? undefined : Number(process.env.SOAK_SEED);
if (!Number.isFinite(seconds) || seconds < 10 || (seed !== undefined && !Number.isInteger(seed))) {
  process.stderr.write("SOAK_SECONDS must be a number >= 10, SOAK_SEED an integer\n");
  process.exit(64);
}
const report = await runSoak({
  seconds,
  ...(seed === undefined ? {} : { seed }),
  resultsDir: process.env.SOAK_RESULTS_DIR ?? join(REPO_ROOT, "bench", "results"),
});
process.exit(report.ok ? 0 : 1);
