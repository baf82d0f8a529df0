// Pid files for the long-running children we start (socat listeners, ip monitor), under runtimeDir/pids.
// A restarted agent stops what a killed one left running, but only a pid whose command line is still
// exactly the one recorded: a pid reused by another program is left alone.
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { signalGroup } from "./exec.js";

export interface PidRecords {
  /** group: the process leads its own process group, which is signalled as a whole. */
  record(
    name: string,
    pid: number | undefined,
    argv: readonly string[],
    options?: { group?: boolean },
  ): Promise<void>;
  forget(name: string): Promise<void>;
  /** Stops every recorded process that is still the one recorded; removes all records. Returns how many. */
  stopLeftovers(): Promise<number>;
}

const NAME = /^[a-z0-9-]{1,64}$/;

async function cmdlineOf(pid: number): Promise<string[] | undefined> {
  try {
    const raw = await readFile(`/proc/${pid}/cmdline`, "utf8");
    // A zombie has an empty command line: it is gone for our purposes.
    return raw === "" ? undefined : raw.split("\0").slice(0, -1);
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function stopIfStillOurs(pid: number, argv: string[], group: boolean, log: Logger): Promise<boolean> {
  const cmdline = await cmdlineOf(pid);
  if (cmdline?.join("\0") !== argv.join("\0")) return false;
  log.info({ pid, argv }, "stopping a process left over by an earlier run");
  // The leader's command line was checked; its group holds only what it forked.
  if (group) signalGroup(pid, "SIGTERM");
  else process.kill(pid, "SIGTERM");
  for (let i = 0; i < 40 && (await cmdlineOf(pid)) !== undefined; i++) await sleep(50);
  // A group id is never reused while the group has members, so this reaches only what the leader forked.
  if (group) signalGroup(pid, "SIGKILL");
  else if ((await cmdlineOf(pid))?.join("\0") === argv.join("\0")) process.kill(pid, "SIGKILL");
  return true;
}

export function createPidRecords(runtimeDir: string, log: Logger): PidRecords {
  const dir = join(runtimeDir, "pids");
  const file = (name: string) => {
    if (!NAME.test(name)) throw new Error(`bad pid record name ${JSON.stringify(name)}`);
    return join(dir, `${name}.json`);
  };
  return {
    async record(name, pid, argv, options = {}) {
      if (pid === undefined) return;
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(file(name), JSON.stringify({ pid, argv, group: options.group === true }) + "\n");
    },
    async forget(name) {
      await rm(file(name), { force: true });
    },
    async stopLeftovers() {
      let names: string[];
      try {
        names = (await readdir(dir)).filter((n) => n.endsWith(".json"));
      } catch {
        return 0;
      }
      let stopped = 0;
      for (const name of names) {
        const path = join(dir, name);
        try {
          const { pid, argv, group } = JSON.parse(await readFile(path, "utf8")) as {
            pid?: unknown;
            argv?: unknown;
            group?: unknown;
          };
          const valid =
            typeof pid === "number" &&
            Number.isInteger(pid) &&
            pid > 1 &&
            Array.isArray(argv) &&
            argv.every((a) => typeof a === "string");
          if (valid && (await stopIfStillOurs(pid, argv, group === true, log))) stopped++;
        } catch (e) {
          log.warn({ file: path, error: String(e) }, "cannot read a leftover pid file; removing it");
        }
        await rm(path, { force: true });
      }
      return stopped;
    },
  };
}
