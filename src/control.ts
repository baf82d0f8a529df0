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
  /**
   * Probes every device (one probe at a time, shared by concurrent callers); with `device`, the answer holds only
   * that device's results. Rejects for a device name not configured.
   */
  probe(device?: string): Promise<ProbeReport>;
  /** Switches one device (or, without a name, every device) on or off; persisted across restarts. */
  setEnabled(enabled: boolean, device?: string): Promise<void>;
  /**
   * Re-reads the config file; rejects with the problems and changes nothing if it is invalid. Resolves with the
   * changed fields that wait for a restart (src/config/reload.ts).
   */
  reloadConfig(): Promise<ReloadReport>;
  /**
   * Replaces a device's port mappings at run time (validated like the config, targets within allowedTargets, listen
   * ports not another device's); persisted. `device` may be left out only when there is one device.
   */
  setPorts(ports: PortMap[], device?: string): Promise<void>;
  /** Back to the config file's port mappings for a device (left out: the only device). */
  resetPorts(device?: string): Promise<void>;
}
