// The firewall adapter's interface: one SNAT rule set that we own entirely, replaced as a whole.
import type { SnatRule } from "../../core/types.js";

export type FirewallBackend = "nft" | "iptables";

export interface Firewall {
  readonly backend: FirewallBackend;
  /** Replaces our rules with exactly these (one per device), atomically. */
  apply(rules: readonly SnatRule[]): Promise<void>;
  /** Removes everything of ours; a no-op when nothing is there. */
  remove(): Promise<void>;
  /** Reads back what is in place: true when it is exactly `rules` (nothing of ours, for none). */
  matches(rules: readonly SnatRule[]): Promise<boolean>;
}
