// What a dashboard may ask of a running agent. MQTT commands (and later other front ends) go through this.
import type { Observable } from "rxjs";
import type { ReloadReport } from "./config/reload.js";
import type { AgentStatus, ProbeReport, ReconcileReport } from "./core/status.js";
import type { PortMap } from "./core/types.js";

export type { ProbeReport, ProbeResult } from "./core/status.js";

export interface AgentControl {
  status(): AgentStatus;
  /** Every status change (distinct values only). */
  statusChanges: Observable<AgentStatus>;
  /** Reconciles now (repairing drift too) and reports how it went. */
  reconcile(): Promise<ReconcileReport | undefined>;
  restartListeners(): Promise<void>;
  probe(): Promise<ProbeReport>;
  /** Switches the proxy as a whole on or off; persisted across restarts. */
  setEnabled(enabled: boolean): Promise<void>;
  /**
   * Re-reads the config file; rejects with the problems and changes nothing if it is invalid. Resolves with the
   * changed fields that wait for a restart (src/config/reload.ts).
   */
  reloadConfig(): Promise<ReloadReport>;
  /** Replaces the port mappings at run time (validated like the config, targets within allowedTargets); persisted. */
  setPorts(ports: PortMap[]): Promise<void>;
  /** Back to the config file's port mappings. */
  resetPorts(): Promise<void>;
}
