// Resubscribes a failing source after a delay that doubles while it keeps failing, and starts small again
// once it has run well for a while. (rxjs' resetOnSuccess resets on any value, which a source that emits
// a first trigger before failing always produces, so it would never back off.)
import { defer, retry, timer, type MonoTypeOperatorFunction } from "rxjs";

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** A run at least this long counts as healthy: the next failure starts again from initialMs. */
  resetAfterMs: number;
  onRetry: (error: unknown, delayMs: number) => void;
  now?: () => number;
}

export function retryWithBackoff<T>(options: BackoffOptions): MonoTypeOperatorFunction<T> {
  // Monotonic: a step of the wall clock must not reset, or hold off resetting, the backoff.
  const now = options.now ?? (() => performance.now());
  return (source) =>
    defer(() => {
      let failures = 0;
      let startedAt = now();
      return defer(() => {
        startedAt = now();
        return source;
      }).pipe(
        retry({
          delay: (error: unknown) => {
            if (now() - startedAt >= options.resetAfterMs) failures = 0;
            const delayMs = Math.min(options.initialMs * 2 ** failures, options.maxMs);
            failures++;
            options.onRetry(error, delayMs);
            return timer(delayMs);
          },
        }),
      );
    });
}
