// Pid files for the long-running children we start (socat listeners, ip and nft monitors), under runtimeDir/pids.
// A restarted agent stops what a killed one left running, but only a pid whose command line is still
// exactly the one recorded: a pid reused by another program is left alone.
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { removeFile, writeFileAtomic } from "./atomic-file.js";
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
  /** The recorded pid, while /proc still shows the recorded command line; undefined otherwise. Reads only. */
  live(name: string): Promise<number | undefined>;
  /** Stops every recorded process that is still the one recorded; removes all records. Returns how many. */
  stopLeftovers(): Promise<number>;
}

const NAME = /^[a-z0-9_-]{1,64}$/;

/** The record of the process serving a listener (a device's listen port; device names are slugs, see the schema). */
export const listenerRecordName = (spec: { device: string; listen: number }) =>
  `listener-${spec.device}-${spec.listen}`;

interface PidRecord {
  pid: number;
  argv: string[];
  group: boolean;
}

function parseRecord(text: string): PidRecord | undefined {
  const { pid, argv, group } = JSON.parse(text) as { pid?: unknown; argv?: unknown; group?: unknown };
  const valid =
    typeof pid === "number" &&
    Number.isInteger(pid) &&
    pid > 1 &&
    Array.isArray(argv) &&
    argv.every((a) => typeof a === "string");
  return valid ? { pid, argv, group: group === true } : undefined;
}

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

const stillOurs = async ({ pid, argv }: PidRecord) => (await cmdlineOf(pid))?.join("\0") === argv.join("\0");

async function stopIfStillOurs(record: PidRecord, log: Logger): Promise<boolean> {
  const { pid, argv, group } = record;
  if (!(await stillOurs(record))) return false;
  log.info({ pid, argv }, "stopping a process left over by an earlier run");
  // The leader's command line was checked; its group holds only what it forked.
  if (group) signalGroup(pid, "SIGTERM");
  else process.kill(pid, "SIGTERM");
  for (let i = 0; i < 40 && (await cmdlineOf(pid)) !== undefined; i++) await sleep(50);
  // A group id is never reused while the group has members, so this reaches only what the leader forked.
  if (group) signalGroup(pid, "SIGKILL");
  else if (await stillOurs(record)) process.kill(pid, "SIGKILL");
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
      // Atomic: a restarted agent reading a half-written record would leave that process running.
      await writeFileAtomic(file(name), JSON.stringify({ pid, argv, group: options.group === true }) + "\n", {
        parentMode: 0o700,
      });
    },
    async forget(name) {
      await removeFile(file(name));
    },
    async live(name) {
      try {
        const record = parseRecord(await readFile(file(name), "utf8"));
        return record !== undefined && (await stillOurs(record)) ? record.pid : undefined;
      } catch {
        return undefined;
      }
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
          const record = parseRecord(await readFile(path, "utf8"));
          if (record !== undefined && (await stopIfStillOurs(record, log))) stopped++;
        } catch (e) {
          log.warn({ file: path, error: String(e) }, "cannot read a leftover pid file; removing it");
        }
        await rm(path, { force: true });
      }
      return stopped;
    },
  };
}
