// Stands in for the `sixgate` binary in the hook tests: `[--config FILE] notify KIND key=value...`, as the hooks
// call it, with the runtime directory taken from SIXGATE_TEST_RUNTIME_DIR. Bundled by the test with esbuild so
// it starts as fast as the real single-file build.
import { notifyCommand } from "../../src/cli/notify.js";

const args = process.argv.slice(2);
if (args[0] === "--config") args.splice(0, 2);
if (args.shift() !== "notify") {
  process.stderr.write("notify-entry: expected `notify`\n");
  process.exit(64);
}
const runtimeDir = process.env.SIXGATE_TEST_RUNTIME_DIR ?? "/run/sixgate";
process.exit(await notifyCommand(runtimeDir, args[0], args.slice(1)));
