// Problems the agent lives with but cannot act on (a full runtime directory, a pid record it could not write):
// shown in its status and on MQTT instead of crashing it or hiding in one log line.
import { Subject, type Observable } from "rxjs";
import type { Logger } from "pino";

export interface Problems {
  /** Sets (or replaces) the problem under `key`; logged at error level when it is new or its text changed. */
  set(key: string, text: string): void;
  /** Clears the problem under `key`, logged at info level when there was one. */
  clear(key: string): void;
  /** The current problems' texts, in the order they were first set. */
  list(): string[];
  /** Emits after each change to the list. */
  readonly changes: Observable<void>;
}

export function createProblems(log: Logger): Problems {
  const current = new Map<string, string>();
  const changes = new Subject<void>();
  return {
    set(key, text) {
      if (current.get(key) === text) return;
      current.set(key, text);
      log.error({ problem: text }, "problem");
      changes.next();
    },
    clear(key) {
      const text = current.get(key);
      if (text === undefined) return;
      current.delete(key);
      log.info({ problem: text }, "problem solved");
      changes.next();
    },
    list: () => [...current.values()],
    changes,
  };
}
