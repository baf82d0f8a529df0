// Everything the checks look at, gathered once (gather.ts) so that each check is a plain function of it.
import type { AgentStatus, DnsRecordStatus } from "../core/status.js";
import type { Config, DevicePlan, Facts, Plan } from "../core/types.js";
import type { ToolCheck } from "../effects/preflight.js";
import type { LinkDetail } from "../sources/ip-addr.js";
import type { NftChain } from "./parse/nft-ruleset.js";
import type { Route } from "./parse/route.js";
import type { ListeningSocket } from "./parse/ss.js";
import type { Reading } from "./types.js";

export interface MqttView {
  connected: boolean;
  broker: string | undefined;
}

export interface AgentView {
  /** The running agent's pid (checked against its start time), if one runs for this runtimeDir. */
  pid: number | undefined;
  status: AgentStatus | undefined;
  /** What the agent's status says about MQTT: null = not configured, undefined = the status does not say. */
  mqtt: MqttView | null | undefined;
}

export interface ProbeView {
  ok: boolean;
  ms: number;
  error: string | null;
}

export interface SnatView {
  backend: "nft" | "iptables";
  /** Our rules read back equal the plan's. */
  matches: boolean;
  /** Our rule lines as the backend lists them; empty when our table or chain is absent. */
  found: string[];
  /** Whether our table (nft) or chain (iptables) exists at all. */
  present: boolean;
}

export interface DoctorContext {
  config: Config;
  /** The agent's preflight of the tools it runs. */
  tools: ToolCheck;
  links: Reading<LinkDetail[]>;
  /** The facts and plan from this moment's snapshot, seeded with the running agent's choices. */
  facts: Facts;
  plan: Plan;
  agent: AgentView;
  sockets: Reading<ListeningSocket[]>;
  nft: Reading<NftChain[]>;
  /** Rules in ip6tables-legacy's filter table (x_tables, which nft cannot list); 0 when it has none. */
  ip6tablesLegacyRules: Reading<number>;
  routes: Reading<Route[]>;
  /** Effective reverse-path filter mode on the LAN interface (max of all and the interface): 0 off, 1 strict, 2 loose. */
  rpFilter: number | undefined;
  /** undefined when there is no plan to compare with. */
  snat: Reading<SnatView> | undefined;
  /** Every configured device, in config order, with what was observed of it. */
  devices: DeviceView[];
  /** How long an end-to-end connection had to stay open to pass. */
  settleMs: number;
  /** Each name the agent keeps in DNS, asked of the server; empty without a `dns:` section. */
  dns: DnsNameView[];
}

/** One DNS name: the address it should have now, and what the authoritative server answers. */
export interface DnsNameView {
  name: string;
  /** The current address (src/core/dns.ts); null while there is none. */
  expected: string | null;
  /** The AAAA addresses the server answers (`dig`), canonical; undefined when not asked (no expected address). */
  answer: Reading<string[]> | undefined;
  /** The running agent's state of this record, if it runs and keeps it. */
  agent: DnsRecordStatus | undefined;
}

/** One device: its plan and what was observed of it (the device checks run once per device). */
export interface DeviceView {
  /** Its name, address and source, LAN address, port mappings in force (run-time ones if the operator set any), enabled. */
  plan: DevicePlan;
  /** Pids of our socat for each of its listen ports, from the agent's status and pid records. */
  ourPids: ReadonlyMap<number, readonly number[]>;
  /** `ip route get <device>`; undefined when the device address is not known. */
  routeToDevice: Reading<Route | undefined> | undefined;
  /** TCP connect to device:target from its LAN address, by target port. */
  deviceProbes: ReadonlyMap<number, ProbeView>;
  /** TCP connect to [wan]:listen from the gateway, by listen port. */
  endToEnd: ReadonlyMap<number, ProbeView>;
  /**
   * Target ports to which a connection made as the listener makes it (from the LAN address, pinned to the LAN
   * interface) was still unanswered (SYN sent) right after the end-to-end probes: the listener accepted the client
   * but cannot reach the device.
   */
  unansweredTargets: ReadonlySet<number>;
}
