// The listener adapter's interface: what carries each listener's connections (a socat per listener, owned by pid).
// Listeners are named by listenerKey (device and listen port), never by the address they bind.
import type { Observable } from "rxjs";
import type { ListenerStatus } from "../../core/status.js";
import type { ListenerKey, ListenerSpec } from "../../core/types.js";

export interface Listeners {
  /**
   * Starts (or replaces) the listener listenerKey(spec); resolves once it is bound, rejects with the reason. A
   * rejected start leaves nothing of that key running, the listener it was to replace included.
   */
  start(spec: ListenerSpec): Promise<void>;
  /** Stops the listener of that key (listenerKey); a no-op for none. */
  stop(key: ListenerKey): Promise<void>;
  stopAll(): Promise<void>;
  /**
   * How many start/stop calls a reconcile may have in flight at once; unset: the Reconciler's PARALLEL_STEPS. A
   * backend whose calls cost nothing each (they only change what it applies together) says Infinity.
   */
  readonly concurrency?: number;
  statuses(): ListenerStatus[];
  /** Emits whenever a listener's state, pid or restart count changed. */
  changes: Observable<void>;
}
