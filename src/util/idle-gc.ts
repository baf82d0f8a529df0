// A full garbage collection at a steady pace, when node runs with --expose-gc (the service files pass it). An idle
// agent allocates a little all the time (timers, probes, status writes), and V8 lets its old generation grow to the
// next collection's threshold first: RSS then climbs for most of an hour before it drops, which on a small gateway
// looks like a leak and keeps pages it does not need. One collection a minute keeps the heap at what is live, for
// about 10 ms of CPU each (a live heap of about 12 MiB, --jitless). Without --expose-gc this does nothing.

/** How often, in ms, when not told otherwise. */
export const IDLE_GC_EVERY_MS = 60_000;

/**
 * Starts the collections (every `everyMs`, unref'd: they never keep the process alive). Returns how to stop them;
 * a no-op when `gc` is not exposed.
 */
export function startIdleGc(everyMs = IDLE_GC_EVERY_MS, gc = exposedGc()): () => void {
  if (gc === undefined) return () => undefined;
  const timer = setInterval(gc, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** node's `gc()` (global with --expose-gc), or undefined. */
export function exposedGc(): (() => void) | undefined {
  const gc: unknown = (globalThis as { gc?: unknown }).gc;
  return typeof gc === "function" ? () => void (gc as () => unknown)() : undefined;
}
