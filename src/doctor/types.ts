// What every doctor check returns, and the report they add up to.

export type CheckStatus = "ok" | "warn" | "fail" | "skip";

export interface Check {
  /** Stable, for machines: "wan-link", "listener:80", "device-port:23", ... */
  id: string;
  /** For people: "WAN link", "Listener [2001:db8::1]:80", ... */
  title: string;
  status: CheckStatus;
  /** What was found, with the evidence. */
  detail: string;
  /** What to try next; absent when there is nothing to fix. */
  fix?: string;
}

export interface DoctorReport {
  /** fail if any check failed, else warn if any warned, else ok. */
  verdict: "ok" | "warn" | "fail";
  counts: Record<CheckStatus, number>;
  /** The first failing check in path order: usually where to start. */
  firstFailure: string | null;
  checks: Check[];
}

export function summarize(checks: Check[]): DoctorReport {
  const counts: Record<CheckStatus, number> = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const c of checks) counts[c.status]++;
  const verdict = counts.fail > 0 ? "fail" : counts.warn > 0 ? "warn" : "ok";
  const firstFailure = checks.find((c) => c.status === "fail")?.id ?? null;
  return { verdict, counts, firstFailure, checks };
}

/** A reading that may have failed: checks report the error instead of guessing. */
export type Reading<T> = { ok: true; value: T } | { ok: false; error: string };

export const readingOk = <T>(value: T): Reading<T> => ({ ok: true, value });
export const readingError = <T>(error: string): Reading<T> => ({ ok: false, error });

/** Runs an observation and turns a throw into a Reading error. */
export async function observe<T>(f: () => Promise<T>): Promise<Reading<T>> {
  try {
    return readingOk(await f());
  } catch (e) {
    return readingError(e instanceof Error ? e.message : String(e));
  }
}
