// The listener adapter's interface: one proxy process per listen port, owned by pid.
import type { Observable } from "rxjs";
import type { ListenerStatus } from "../../core/status.js";
import type { ListenerSpec } from "../../core/types.js";

export interface Listeners {
  /** Starts (or replaces) the listener for spec.listen; resolves once it is bound, rejects with the reason. */
  start(spec: ListenerSpec): Promise<void>;
  stop(listen: number): Promise<void>;
  stopAll(): Promise<void>;
  statuses(): ListenerStatus[];
  /** Emits whenever a listener's state, pid or restart count changed. */
  changes: Observable<void>;
}
