// The status file (runtimeDir/status.json), read by `sixgate status`: written on every change, one write at a time.
// A full or read-only runtime directory must not stop the agent nor leave an old status standing as if current.
import { open } from "node:fs/promises";
import type { Logger } from "pino";
import { writeFileAtomic } from "../effects/atomic-file.js";
import type { Problems } from "../util/problems.js";
import { statusPath, type StatusFile } from "./runtime.js";

export interface StatusWriter {
  push(status: StatusFile): void;
  /** Waits for the last write; nothing is written after it (the agent removes the file next). */
  close(): Promise<void>;
}

const PROBLEM = "status-file";

/**
 * Writes `text` over the existing file's own bytes, then cuts it to length: no new space is needed while the text fits
 * the pages or blocks the file already holds. Not atomic: the
 * fallback for a full file system only. Rejects when the text is longer than the file or the write fails.
 */
async function overwriteInPlace(file: string, text: string): Promise<void> {
  const handle = await open(file, "r+");
  try {
    const bytes = Buffer.from(text);
    // The space the file holds: whole pages (tmpfs) or blocks (ext4), also past its last byte.
    const { size, blocks } = await handle.stat();
    if (bytes.length > Math.max(size, blocks * 512)) throw new Error("no room in the existing status file");
    await handle.write(bytes, 0, bytes.length, 0);
    await handle.truncate(bytes.length);
  } finally {
    await handle.close();
  }
}

/**
 * Persists status changes one write at a time, skipping repeats: a burst of changes costs at most the write in
 * progress plus one. A failed write becomes a problem (in the status itself, so on MQTT too, and in the log) and
 * the status is then written in place, compact, when it fits the file's existing space; the next atomic write that
 * succeeds clears the problem.
 */
export function createStatusWriter(runtimeDir: string, problems: Problems, log: Logger): StatusWriter {
  const file = statusPath(runtimeDir);
  let pending: StatusFile | undefined;
  let written = "";
  let closed = false;
  let draining: Promise<void> = Promise.resolve();
  const write = async (status: StatusFile) => {
    const text = JSON.stringify(status, null, 2) + "\n";
    if (text === written) return;
    try {
      await writeFileAtomic(file, text);
      written = text;
      problems.clear(PROBLEM);
    } catch (e) {
      problems.set(PROBLEM, `cannot write ${file}: ${e instanceof Error ? e.message : String(e)}`);
      // With the problem named in it (set just above, so the next push carries it; this one may not yet).
      const compact = JSON.stringify({ ...status, problems: problems.list() }) + "\n";
      await overwriteInPlace(file, compact).catch((inPlace: unknown) => {
        log.debug({ error: String(inPlace) }, "cannot write the status in place either");
      });
      written = "";
    }
  };
  const drain = async () => {
    for (let status = pending; status !== undefined; status = pending) {
      pending = undefined;
      await write(status);
    }
  };
  return {
    push: (status) => {
      if (closed) return;
      const idle = pending === undefined;
      pending = status;
      if (idle) draining = draining.then(drain);
    },
    close: () => {
      closed = true;
      return draining;
    },
  };
}
