// The one way the agent writes a file others read (state.json, status.json, agent.pid, pid records): whole or not
// at all, one write at a time per file, each through its own temporary name.
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

export interface WriteOptions {
  /** File mode of a new file (default 0o644). */
  mode?: number;
  /**
   * Reach the disk before resolving: the data before the rename, the rename (the directory) before we report
   * success, so after a power cut the file is the old one or the new one, never an empty one. For files on flash
   * that outlive a restart; files under a tmpfs runtime directory do not need it.
   */
  durable?: boolean;
  /** Creates the parent directory (and its parents) with this mode first, when it is missing. */
  parentMode?: number;
}

/** The tail of the work on each path (a write or a removal); an entry is dropped when its work is the last. */
const tails = new Map<string, Promise<void>>();
let sequence = 0;

/**
 * Runs work on a path after every write or removal of that path this process asked for earlier, so they take
 * effect in the order they were asked for. The returned promise carries work's own result or error.
 */
function inTurn(path: string, work: () => Promise<void>): Promise<void> {
  const run = (tails.get(path) ?? Promise.resolve()).then(work);
  const tail = run.catch(() => undefined);
  tails.set(path, tail);
  void tail.then(() => {
    if (tails.get(path) === tail) tails.delete(path);
  });
  return run;
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `file` with `text` atomically: a reader sees the old content or the new, never a mix. Writes to one path
 * are serialised in call order (the last call's text is what stays); each uses a temporary name of its own (pid and
 * a per-process counter, created exclusively), removed again if the write fails. Rejects with the fs error.
 */
export function writeFileAtomic(file: string, text: string, options: WriteOptions = {}): Promise<void> {
  return inTurn(file, async () => {
    if (options.parentMode !== undefined)
      await mkdir(dirname(file), { recursive: true, mode: options.parentMode });
    const tmp = `${file}.${process.pid}.${++sequence}.tmp`;
    try {
      const handle = await open(tmp, "wx", options.mode ?? 0o644);
      try {
        await handle.writeFile(text);
        if (options.durable === true) await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, file);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    if (options.durable === true) await syncDirectory(dirname(file));
  });
}

/** Removes `file` (absent is fine) after the writes to it asked for earlier, so a late write cannot bring it back. */
export function removeFile(file: string): Promise<void> {
  return inTurn(file, () => rm(file, { force: true }));
}
