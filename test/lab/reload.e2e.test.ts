// A SIGHUP reload of the real agent: logLevel and commandTimeoutMs take effect at once, a stateDir change is
// logged as waiting for a restart.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { createLabFor, waitFor } from "./lab.js";

const TEST = { timeout: 90_000 };
const NFT = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"].find((p) => existsSync(p)) ?? "nft";

describe("reload in the lab", () => {
  it(
    "SIGHUP applies logLevel and commandTimeoutMs at once; a stateDir change waits for a restart",
    TEST,
    async (t) => {
      const lab = await createLabFor(t);
      // An nft that is slow while a marker file exists: the command the reloaded timeout must cut short.
      const bin = join(lab.dir, "bin");
      const slow = join(lab.dir, "slow-nft");
      await mkdir(bin);
      await writeFile(join(bin, "nft"), `#!/bin/sh\n[ -e '${slow}' ] && exec sleep 3\nexec '${NFT}' "$@"\n`, {
        mode: 0o755,
      });
      // A health tick every second runs nft (the read-back of our table) through the runner.
      const base = { health: { schedule: "* * * * * *" } };
      const config = await lab.writeConfig({ ...base, logLevel: "info" });
      const agent = lab.startAgent(config, [], ["env", `PATH=${bin}:${process.env.PATH ?? ""}`]);
      await agent.waitPhase("serving", 15_000);
      const commands = () => agent.logs().filter((l) => l.level === 20 && l.msg === "command");
      assert.equal(
        agent.logs().filter((l) => l.level === 20).length,
        0,
        "nothing at debug while logLevel is info",
      );

      await lab.writeConfig({
        ...base,
        logLevel: "debug",
        commandTimeoutMs: 500,
        stateDir: join(lab.dir, "other"),
      });
      agent.stop("SIGHUP");
      await waitFor(() => agent.logs().some((l) => l.msg === "configuration reloaded"), {
        message: () => agent.tail(),
      });
      const warning = agent.logs().find((l) => l.level === 40 && "restartNeeded" in l);
      assert.deepEqual(warning?.restartNeeded, ["stateDir"], agent.tail());
      assert.match(String(warning.msg), /stateDir take effect at the next restart/);
      await waitFor(() => commands().length > 0, {
        message: () => `no debug lines after the reload\n${agent.tail()}`,
      });

      await writeFile(slow, "");
      const cut = await waitFor(
        () => commands().find((l) => Array.isArray(l.argv) && l.argv[0] === "nft" && l.exitCode === 124),
        { timeoutMs: 8_000, message: () => `no nft command was cut short\n${agent.tail()}` },
      );
      assert.ok(typeof cut.ms === "number" && cut.ms < 2_000, `killed after ${String(cut.ms)} ms`);
      await rm(slow);
      assert.ok(agent.running, "the agent lives on");
      assert.ok(!existsSync(join(lab.dir, "other")), "the new stateDir is not used before a restart");
    },
  );
});
