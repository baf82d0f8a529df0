// The network lab: three network namespaces, real dnsmasq/udhcpc/httpd, and the agent as a
// real child process. Used by the lab self-tests, the end-to-end tests, the demo and the benchmarks.
//
//   client ns (IPv6)            gateway ns                          device ns (IPv4 only)
//   eth0 2001:db8:1::2/64 ──── wan0 2001:db8:1::1/64
//                               lan0 192.168.1.1/24 (dnsmasq) ──── eth0 DHCP, MAC 02:00:00:00:01:00
//                                                                    httpd :80 and :23
//
// Everything the lab creates is named with a random per-run id, recorded in <labdir>/lab.json,
// and removed by destroy() (idempotent, also run on process exit and on SIGINT/SIGTERM).
// Traffic stays inside the lab (2001:db8::/32, 192.168.1.0/24) or on loopback.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { AGENT_CLI, AgentProcess, REPO_ROOT, readStatus, type AgentStatus, type ExitInfo } from "./agent.js";
import { nsPids, nsProcesses, socatListeners, type ProcInfo, type SocatListener } from "./procs.js";
import {
  pidAlive,
  run,
  runOk,
  signalPid,
  sleep,
  waitFor,
  randomId,
  type ExecResult,
  type RunOptions,
} from "./util.js";

export * from "./agent.js";
export * from "./procs.js";
export * from "./util.js";

export const CLIENT_ADDRESS = "2001:db8:1::2";
export const WAN_ADDRESS = "2001:db8:1::1";
export const WAN_PREFIX_LENGTH = 64;
export const LAN_ADDRESS = "192.168.1.1";
export const DEVICE_MAC = "02:00:00:00:01:00";
export const DHCP_RANGE = { first: "192.168.1.100", last: "192.168.1.150" } as const;
/** Device ports with an HTTP server, and the ports the default config exposes them on. */
export const DEVICE_PORTS = [80, 23] as const;
export const DEFAULT_PORTS = [
  { listen: 80, target: 80 },
  { listen: 2323, target: 23 },
] as const;
export const DEVICE_MARKER = "sixgate-lab-device";
const UDHCPC_SCRIPT = "/etc/udhcpc/default.script";
const LAB_DIR_PREFIX = "sixgate-lab-";

export type Role = "cli" | "gw" | "dev";
const ROLES: readonly Role[] = ["cli", "gw", "dev"];

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** Config overrides: objects merge deeply, arrays and scalars replace, `undefined` deletes a key. */
export interface ConfigOverrides {
  [key: string]: JsonValue | ConfigOverrides | undefined;
}

export interface DeviceAnswer {
  port: number;
  remote: string;
}

/** Parses the device's CGI answer: "sixgate-lab-device port=80 remote=192.168.1.1". */
export function parseDeviceAnswer(body: string): DeviceAnswer | undefined {
  const m = /sixgate-lab-device port=(\d+) remote=(\S*)/.exec(body);
  if (m?.[1] === undefined || m[2] === undefined) return undefined;
  return { port: Number(m[1]), remote: m[2] };
}

export interface CurlResult {
  ok: boolean;
  exitCode: number | undefined;
  body: string;
  stderr: string;
  answer: DeviceAnswer | undefined;
}

export interface CurlOptions {
  path?: string;
  connectTimeoutS?: number;
  maxTimeS?: number;
}

export interface WanAddress {
  address: string;
  prefixLength: number;
  tentative: boolean;
  dadfailed: boolean;
  deprecated: boolean;
}

export interface Lease {
  expiry: number;
  mac: string;
  address: string;
  hostname: string;
}

export interface LabProcess {
  name: string;
  pid: number;
  child: ChildProcess;
  exited: Promise<ExitInfo>;
  exitInfo: ExitInfo | undefined;
}

interface LabRecord {
  owner: number;
  namespaces: string[];
  etcNetns: string;
}

// Labs not yet destroyed in this process, for the exit/signal safety net.
const liveLabs = new Set<Lab>();
let safetyNetInstalled = false;

function installSafetyNet(): void {
  if (safetyNetInstalled) return;
  safetyNetInstalled = true;
  process.on("exit", () => {
    for (const lab of liveLabs) lab.destroySync();
  });
  const onSignal = (signal: NodeJS.Signals, code: number): void => {
    if (liveLabs.size > 0) process.stderr.write(`\nsixgate lab: ${signal}, cleaning up\n`);
    for (const lab of liveLabs) lab.destroySync();
    process.exit(code);
  };
  process.once("SIGINT", () => {
    onSignal("SIGINT", 130);
  });
  process.once("SIGTERM", () => {
    onSignal("SIGTERM", 143);
  });
}

export class Lab {
  readonly ns: Readonly<Record<Role, string>>;
  readonly leaseFile: string;
  readonly etcNetnsDir: string;
  /** The WAN address the lab considers current (changed by renumberWan). */
  wanAddress = WAN_ADDRESS;
  readonly clientAddress = CLIENT_ADDRESS;
  readonly lanAddress = LAN_ADDRESS;
  readonly deviceMac = DEVICE_MAC;
  private readonly processes: LabProcess[] = [];
  private readonly agents: AgentProcess[] = [];
  /** Namespaces of the extra LAN hosts (addLanHost), removed by destroy() with the lab's own. */
  private readonly lanHosts: string[] = [];
  private udhcpc: LabProcess | undefined;
  private destroying: Promise<void> | undefined;
  private destroyed = false;
  private agentCount = 0;

  constructor(
    readonly id: string,
    readonly dir: string,
  ) {
    this.ns = { cli: `sg${id}-cli`, gw: `sg${id}-gw`, dev: `sg${id}-dev` };
    this.leaseFile = join(dir, "dhcp.leases");
    this.etcNetnsDir = join("/etc/netns", this.ns.dev);
  }

  // ---------------------------------------------------------------- commands

  /** Runs argv inside a lab namespace (`ip netns exec`), never through a shell. */
  exec(role: Role, argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
    return run(["ip", "netns", "exec", this.ns[role], ...argv], opts);
  }

  execOk(role: Role, argv: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
    return runOk(["ip", "netns", "exec", this.ns[role], ...argv], opts);
  }

  /** `ip -n NS ...` (cheaper than exec: no mount namespace). */
  ip(role: Role, args: readonly string[]): Promise<ExecResult> {
    return run(["ip", "-n", this.ns[role], ...args]);
  }

  ipOk(role: Role, args: readonly string[]): Promise<ExecResult> {
    return runOk(["ip", "-n", this.ns[role], ...args]);
  }

  /** Feeds many `ip` commands at once (`ip -batch -`): a real burst of netlink events. */
  ipBatch(role: Role, lines: readonly string[]): Promise<ExecResult> {
    return runOk(["ip", "-n", this.ns[role], "-batch", "-"], {
      input: `${lines.join("\n")}\n`,
      timeoutMs: 30_000,
    });
  }

  async sysctl(role: Role, settings: Record<string, string | number>): Promise<void> {
    const args = Object.entries(settings).map(([k, v]) => `${k}=${String(v)}`);
    await this.execOk(role, ["sysctl", "-q", "-w", ...args]);
  }

  /** Starts a long-running process inside a namespace, tracked by pid and killed by destroy(). */
  spawn(role: Role, argv: readonly string[], name: string): LabProcess {
    return this.spawnIn(this.ns[role], argv, name);
  }

  /** spawn() in any namespace of the lab (an extra LAN host's, see addLanHost). */
  spawnIn(nsName: string, argv: readonly string[], name: string): LabProcess {
    const logFd = openSync(join(this.dir, `${name}.log`), "a");
    try {
      const child = spawn("ip", ["netns", "exec", nsName, ...argv], {
        stdio: ["ignore", logFd, logFd],
      });
      if (child.pid === undefined) throw new Error(`could not start ${name}`);
      const proc: LabProcess = {
        name,
        pid: child.pid,
        child,
        exitInfo: undefined,
        exited: new Promise((resolve) => {
          child.once("exit", (code, signal) => {
            proc.exitInfo = { code, signal };
            resolve(proc.exitInfo);
          });
        }),
      };
      child.on("error", () => undefined);
      this.processes.push(proc);
      return proc;
    } finally {
      closeSync(logFd);
    }
  }

  /** Pids of the processes the lab itself started (not the agent). */
  labPids(): Set<number> {
    return new Set(this.processes.filter((p) => p.exitInfo === undefined).map((p) => p.pid));
  }

  processesIn(role: Role): Promise<ProcInfo[]> {
    return nsProcesses(this.ns[role]);
  }

  /** socat listener processes in the gateway namespace (forked connection children excluded). */
  async socatListeners(): Promise<SocatListener[]> {
    return socatListeners(await this.processesIn("gw"));
  }

  /** Listening TCP sockets in a namespace as "address:port" (IPv6 addresses in brackets). */
  async listeningTcp(role: Role): Promise<{ address: string; port: number }[]> {
    const r = await this.execOk(role, ["ss", "-H", "-l", "-t", "-n"]);
    return r.stdout
      .split("\n")
      .map((line) => line.trim().split(/\s+/)[3])
      .filter((local): local is string => local !== undefined && local.includes(":"))
      .map((local) => {
        const i = local.lastIndexOf(":");
        return { address: local.slice(0, i), port: Number(local.slice(i + 1)) };
      });
  }

  // ---------------------------------------------------------------- setup

  async setUp(): Promise<void> {
    await this.setUpTopology();
    await this.setUpAddresses();
    await this.startDhcpServer();
    await this.setUpDeviceServers();
    await this.startDhcpClient();
    await this.waitForLease();
  }

  private async setUpTopology(): Promise<void> {
    for (const role of ROLES) await runOk(["ip", "netns", "add", this.ns[role]]);
    // veth pairs created directly inside the namespaces: nothing ever lands in the host's.
    await this.ipOk("gw", [
      "link",
      "add",
      "wan0",
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      this.ns.cli,
    ]);
    await this.ipOk("gw", [
      "link",
      "add",
      "lan0",
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      this.ns.dev,
    ]);
    await this.ipOk("dev", ["link", "set", "eth0", "address", DEVICE_MAC]);
    // The device is IPv4-only for real; the client keeps its address while its cable is "pulled".
    await this.sysctl("dev", {
      "net.ipv6.conf.all.disable_ipv6": 1,
      "net.ipv6.conf.default.disable_ipv6": 1,
      "net.ipv6.conf.eth0.disable_ipv6": 1,
    });
    await this.sysctl("cli", { "net.ipv6.conf.eth0.keep_addr_on_down": 1 });
    for (const role of ROLES) await this.ipOk(role, ["link", "set", "lo", "up"]);
    await this.ipOk("cli", ["link", "set", "eth0", "up"]);
    await this.ipOk("gw", ["link", "set", "wan0", "up"]);
    await this.ipOk("gw", ["link", "set", "lan0", "up"]);
    await this.ipOk("dev", ["link", "set", "eth0", "up"]);
  }

  private async setUpAddresses(): Promise<void> {
    await this.ipOk("cli", ["addr", "add", `${CLIENT_ADDRESS}/${WAN_PREFIX_LENGTH}`, "dev", "eth0", "nodad"]);
    await this.addWanAddress(WAN_ADDRESS);
    await this.ipOk("gw", ["addr", "add", `${LAN_ADDRESS}/24`, "dev", "lan0"]);
  }

  /**
   * dnsmasq's --dhcp-script: the project's real hook (hotplug/dnsmasq-dhcp-script) with its hotplug/notify.sh,
   * pointed at the socket of the lab's default config, as an operator with a non-default runtimeDir installs it.
   */
  private async writeDhcpHook(): Promise<string> {
    const hook = join(this.dir, "dhcp-hook");
    const script = join(REPO_ROOT, "hotplug", "dnsmasq-dhcp-script");
    const lib = join(REPO_ROOT, "hotplug", "notify.sh");
    const socket = join(this.dir, "run", "notify.sock");
    await writeFile(
      hook,
      `#!/bin/sh\nSIXGATE_SOCKET=${socket} SIXGATE_NOTIFY_LIB=${lib} exec /bin/sh ${script} "$@"\n`,
      { mode: 0o755 },
    );
    return hook;
  }

  private async startDhcpServer(): Promise<void> {
    const hook = await this.writeDhcpHook();
    this.spawn(
      "gw",
      [
        "dnsmasq",
        "--keep-in-foreground",
        "--port=0", // no DNS
        "--conf-file=/dev/null",
        "--bind-interfaces",
        "--interface=lan0",
        "--except-interface=lo",
        `--dhcp-range=${DHCP_RANGE.first},${DHCP_RANGE.last},255.255.255.0,12h`,
        `--dhcp-leasefile=${this.leaseFile}`,
        "--dhcp-authoritative",
        "--no-ping", // offers at once instead of probing the address for seconds
        "--pid-file=",
        "--user=root",
        "--log-facility=-",
        "--log-dhcp",
        `--dhcp-script=${hook}`,
      ],
      "dnsmasq",
    );
    await waitFor(
      async () => (await this.exec("gw", ["ss", "-H", "-l", "-u", "-n", "sport", "=", ":67"])).stdout.trim(),
      {
        timeoutMs: 5_000,
        message: () => this.readLog("dnsmasq"),
      },
    );
  }

  private async setUpDeviceServers(): Promise<void> {
    await this.serveDevicePorts(DEVICE_PORTS);
  }

  /** Starts the device's web server (an index and /cgi-bin/whoami naming its port) on each of `ports`. */
  async serveDevicePorts(ports: readonly number[]): Promise<void> {
    for (const port of ports) {
      const root = join(this.dir, "www", String(port));
      await mkdir(join(root, "cgi-bin"), { recursive: true });
      await writeFile(join(root, "index.html"), `${DEVICE_MARKER} port=${port}\n`);
      // Echoes the source address the device saw, so tests can check the return path.
      const cgi = join(root, "cgi-bin", "whoami");
      await writeFile(
        cgi,
        `#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nprintf '${DEVICE_MARKER} port=${port} remote=%s\\n' "$REMOTE_ADDR"\n`,
      );
      chmodSync(cgi, 0o755);
      // 0.0.0.0 so REMOTE_ADDR is a plain IPv4 address (the device has no IPv6 anyway).
      this.spawn(
        "dev",
        ["busybox", "httpd", "-f", "-v", "-p", `0.0.0.0:${port}`, "-h", root],
        `httpd-${port}`,
      );
    }
    await waitFor(
      async () => {
        const listening = new Set((await this.listeningTcp("dev")).map((l) => l.port));
        return ports.every((p) => listening.has(p));
      },
      { timeoutMs: 5_000 },
    );
  }

  private async startDhcpClient(requestAddress?: string): Promise<void> {
    // Debian's udhcpc script writes /etc/resolv.conf; `ip netns exec` bind-mounts this file
    // over it, so the host's resolv.conf is never touched. Prove the bind works before starting.
    if (!existsSync(join(this.etcNetnsDir, "resolv.conf"))) {
      await mkdir(this.etcNetnsDir, { recursive: true });
      await writeFile(join(this.etcNetnsDir, "resolv.conf"), `# sixgate lab ${this.id}\n`);
      const seen = await this.exec("dev", ["cat", "/etc/resolv.conf"]);
      if (!seen.stdout.includes(`# sixgate lab ${this.id}`)) {
        throw new Error("ip netns exec did not bind-mount the lab's resolv.conf; refusing to run udhcpc");
      }
    }
    const argv = ["busybox", "udhcpc", "-f", "-i", "eth0", "-s", UDHCPC_SCRIPT, "-R"];
    argv.push("-t", "10", "-T", "1", "-A", "1", "-x", "hostname:sixgate-device");
    if (requestAddress !== undefined) argv.push("-r", requestAddress);
    this.udhcpc = this.spawn("dev", argv, "udhcpc");
  }

  private async waitForLease(expected?: string): Promise<string> {
    return waitFor(
      async () => {
        const address = await this.deviceAddress();
        if (address === undefined || (expected !== undefined && address !== expected)) return undefined;
        const lease = (await this.leases()).find((l) => l.mac === DEVICE_MAC);
        return lease?.address === address ? address : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 50, message: () => this.readLog("udhcpc") + this.readLog("dnsmasq") },
    );
  }

  readLog(name: string): string {
    try {
      return `--- ${name}.log ---\n${readFileSync(join(this.dir, `${name}.log`), "utf8")}`;
    } catch {
      return `--- ${name}.log missing ---\n`;
    }
  }

  // ---------------------------------------------------------------- more LAN hosts

  /**
   * Another IPv4-only host on the LAN, as a second device behind the same switch: namespace `sg<id>-<suffix>` with
   * an `eth0` (MAC `mac`) that is a macvlan (bridge mode) of the device namespace's link to the gateway's lan0, so
   * the gateway sees several MACs on one wire. No address yet; `ip link set eth0 down` in it pulls its cable.
   * Returns the namespace's name; destroy() removes it and everything running in it.
   */
  async addLanHost(suffix: string, mac: string): Promise<string> {
    if (!/^h[a-z0-9]{1,7}$/.test(suffix))
      throw new Error(`LAN host suffix ${suffix}: want h + 1-7 of a-z 0-9`);
    const nsName = `sg${this.id}-${suffix}`;
    await runOk(["ip", "netns", "add", nsName]);
    this.lanHosts.push(nsName);
    await writeFile(
      join(this.dir, "lab.json"),
      JSON.stringify({
        owner: process.pid,
        namespaces: [...Object.values(this.ns), ...this.lanHosts],
        etcNetns: this.etcNetnsDir,
      } satisfies LabRecord),
    );
    const link = `mv${suffix}`;
    await this.ipOk("dev", [
      "link",
      "add",
      "link",
      "eth0",
      "name",
      link,
      "type",
      "macvlan",
      "mode",
      "bridge",
    ]);
    await this.ipOk("dev", ["link", "set", link, "netns", nsName]);
    const inHost = (args: readonly string[]) => runOk(["ip", "-n", nsName, ...args]);
    await inHost(["link", "set", link, "name", "eth0"]);
    await inHost(["link", "set", "eth0", "address", mac]);
    await runOk(["ip", "netns", "exec", nsName, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"]);
    await inHost(["link", "set", "lo", "up"]);
    await inHost(["link", "set", "eth0", "up"]);
    return nsName;
  }

  // ---------------------------------------------------------------- WAN

  async addWanAddress(address: string, opts: { dad?: boolean } = {}): Promise<void> {
    const args = ["addr", "add", `${address}/${WAN_PREFIX_LENGTH}`, "dev", "wan0"];
    await this.ipOk("gw", opts.dad === true ? args : [...args, "nodad"]);
  }

  async delWanAddress(address: string): Promise<void> {
    await this.ipOk("gw", ["addr", "del", `${address}/${WAN_PREFIX_LENGTH}`, "dev", "wan0"]);
  }

  /** Adds the new WAN address, then deletes the old one (as a renumbering does). */
  async renumberWan(newAddress: string, opts: { dad?: boolean } = {}): Promise<{ old: string; new: string }> {
    const old = this.wanAddress;
    await this.addWanAddress(newAddress, opts);
    await this.delWanAddress(old);
    this.wanAddress = newAddress;
    return { old, new: newAddress };
  }

  async wanAddresses(): Promise<WanAddress[]> {
    const r = await this.ipOk("gw", ["-j", "-6", "addr", "show", "dev", "wan0", "scope", "global"]);
    const links = JSON.parse(r.stdout || "[]") as { addr_info?: Record<string, unknown>[] }[];
    // `ip -j` prints filtered-out addresses as empty objects: keep only real ones.
    return links.flatMap((l) =>
      (l.addr_info ?? [])
        .filter((a) => typeof a.local === "string")
        .map((a) => ({
          address: String(a.local),
          prefixLength: Number(a.prefixlen),
          tentative: a.tentative === true,
          dadfailed: a.dadfailed === true,
          deprecated: a.deprecated === true,
        })),
    );
  }

  async wanHasCarrier(): Promise<boolean> {
    const r = await this.ipOk("gw", ["-j", "link", "show", "dev", "wan0"]);
    const links = JSON.parse(r.stdout) as { flags?: string[] }[];
    const flags = links[0]?.flags ?? [];
    return flags.includes("LOWER_UP") && !flags.includes("NO-CARRIER");
  }

  /** Pulls (false) or plugs (true) the WAN cable: the client end goes down, the gateway sees NO-CARRIER. */
  async setWanCable(up: boolean): Promise<void> {
    await this.ipOk("cli", ["link", "set", "eth0", up ? "up" : "down"]);
    await waitFor(async () => (await this.wanHasCarrier()) === up, { timeoutMs: 5_000, intervalMs: 20 });
  }

  // ---------------------------------------------------------------- device

  async deviceAddress(): Promise<string | undefined> {
    const r = await this.ip("dev", ["-j", "-4", "addr", "show", "dev", "eth0"]);
    if (!r.ok) return undefined;
    const links = JSON.parse(r.stdout || "[]") as { addr_info?: { local?: string }[] }[];
    return links[0]?.addr_info?.[0]?.local;
  }

  /** The dnsmasq lease file, parsed ("expiry mac address hostname clientid" per line). */
  async leases(): Promise<Lease[]> {
    let text: string;
    try {
      text = await readFile(this.leaseFile, "utf8");
    } catch {
      return [];
    }
    return text
      .split("\n")
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f.length >= 4)
      .map(([expiry, mac, address, hostname]) => ({
        expiry: Number(expiry),
        mac: mac ?? "",
        address: address ?? "",
        hostname: hostname ?? "",
      }));
  }

  /**
   * Makes the device release its lease and take a new one with `address` (in the DHCP range).
   * The device's old address disappears; the lease file then names the new one.
   */
  async newDeviceLease(address: string): Promise<string> {
    const current = this.udhcpc;
    if (current?.exitInfo === undefined && current !== undefined) {
      signalPid(current.pid, "SIGUSR2"); // release: dnsmasq drops the lease, the script flushes the address
      await waitFor(async () => (await this.deviceAddress()) === undefined, { timeoutMs: 5_000 });
      await this.stopProcess(current, 2_000);
    }
    await this.startDhcpClient(address);
    return this.waitForLease(address);
  }

  /**
   * The device gives its lease back (dnsmasq drops it from the lease file), stops its DHCP client and takes
   * `address` as a static address instead; then it talks to the gateway once, as any device does when it is used.
   * Called again, it moves to another static address.
   */
  async useStaticDeviceAddress(address: string): Promise<void> {
    const current = this.udhcpc;
    if (current !== undefined && current.exitInfo === undefined) {
      signalPid(current.pid, "SIGUSR2"); // release: dnsmasq drops the lease, the script flushes the address
      await waitFor(async () => (await this.leases()).every((l) => l.mac !== DEVICE_MAC), {
        timeoutMs: 5_000,
        message: () => this.readLog("dnsmasq"),
      });
      await this.stopProcess(current, 2_000);
    }
    await this.ipOk("dev", ["addr", "flush", "dev", "eth0"]);
    await this.ipOk("dev", ["addr", "add", `${address}/24`, "dev", "eth0"]);
    await this.execOk("dev", ["busybox", "ping", "-c", "1", "-W", "2", LAN_ADDRESS]);
  }

  /** DHCPACKs dnsmasq has sent so far (from its log): tells when a renewal went through. */
  dhcpAcks(): number {
    return (this.readLog("dnsmasq").match(/DHCPACK\(lan0\)/g) ?? []).length;
  }

  /** The device renews its lease (same address); dnsmasq rewrites the lease file. */
  async renewDeviceLease(): Promise<void> {
    const current = this.udhcpc;
    if (current === undefined || current.exitInfo !== undefined) throw new Error("udhcpc is not running");
    const acks = this.dhcpAcks();
    signalPid(current.pid, "SIGUSR1");
    await waitFor(() => this.dhcpAcks() > acks, { timeoutMs: 5_000, message: () => this.readLog("udhcpc") });
  }

  /** curl from the gateway to the device over IPv4 (no agent involved). */
  async curlDevice(port: number, opts: CurlOptions = {}): Promise<CurlResult> {
    const address = await this.deviceAddress();
    if (address === undefined) throw new Error("device has no address");
    return this.curl("gw", `http://${address}:${port}`, opts);
  }

  /** curl over IPv6 from the client to the gateway's WAN (default: the current WAN address). */
  curl6(port: number, address: string = this.wanAddress, opts: CurlOptions = {}): Promise<CurlResult> {
    return this.curl("cli", `http://[${address}]:${port}`, opts);
  }

  private async curl(role: Role, base: string, opts: CurlOptions): Promise<CurlResult> {
    const r = await this.exec(
      role,
      [
        "curl",
        "-sS",
        "-g",
        "--fail",
        "--noproxy",
        "*",
        "--connect-timeout",
        String(opts.connectTimeoutS ?? 1),
        "--max-time",
        String(opts.maxTimeS ?? 3),
        `${base}${opts.path ?? "/cgi-bin/whoami"}`,
      ],
      { timeoutMs: ((opts.maxTimeS ?? 3) + 5) * 1000 },
    );
    return {
      ok: r.ok,
      exitCode: r.exitCode,
      body: r.stdout,
      stderr: r.stderr,
      answer: parseDeviceAnswer(r.stdout),
    };
  }

  // ---------------------------------------------------------------- firewall

  /** `nft list tables` in the gateway, one "table FAMILY NAME" per entry. */
  async nftTables(): Promise<string[]> {
    const r = await this.execOk("gw", ["nft", "list", "tables"]);
    return r.stdout
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.startsWith("table "));
  }

  /** `nft list table FAMILY NAME` in the gateway, or undefined if it does not exist. */
  async nftTable(family: string, name: string): Promise<string | undefined> {
    const r = await this.exec("gw", ["nft", "list", "table", family, name]);
    return r.ok ? r.stdout : undefined;
  }

  async iptablesSave(table = "nat"): Promise<string> {
    return (await this.execOk("gw", ["iptables-save", "-t", table])).stdout;
  }

  // ---------------------------------------------------------------- agent

  /** The agent's default lab config; overrides merge deeply (arrays replace, undefined deletes). */
  config(overrides: ConfigOverrides = {}): ConfigOverrides {
    const base: ConfigOverrides = {
      wan: { interface: "wan0", address: "auto" },
      lan: { interface: "lan0", address: "auto" },
      device: { mac: DEVICE_MAC, leases: this.leaseFile },
      ports: DEFAULT_PORTS.map((p) => ({ ...p })),
      firewall: "nft",
      runtimeDir: join(this.dir, "run"),
      stateDir: join(this.dir, "state"), // never the host's /var/lib/sixgate
      debounceMs: 100,
      logLevel: "debug",
    };
    return mergeConfig(base, overrides);
  }

  /** Writes a YAML config into the lab dir and returns its path. */
  async writeConfig(overrides: ConfigOverrides = {}, name = "config.yaml"): Promise<string> {
    return this.writeRawConfig(stringify(this.config(overrides)), name);
  }

  async writeRawConfig(text: string, name = "config.yaml"): Promise<string> {
    const path = join(this.dir, name);
    await writeFile(path, text);
    return path;
  }

  /** Starts `sixgate run --config F` in the gateway namespace (does not wait for it to serve). */
  startAgent(
    configPath: string,
    extraArgs: readonly string[] = [],
    prefix: readonly string[] = [],
  ): AgentProcess {
    if (!existsSync(AGENT_CLI)) throw new Error(`${AGENT_CLI} is missing: run "npm run build" first`);
    const log = join(this.dir, `agent-${++this.agentCount}.log`);
    const agent = new AgentProcess(this.ns.gw, configPath, extraArgs, log, prefix);
    this.agents.push(agent);
    return agent;
  }

  /** The pid in one of the agent's records under runtimeDir/pids ("ip-monitor", "nft-monitor", "listener-device-80"). */
  async recordedPid(name: string): Promise<number> {
    const text = await readFile(join(this.dir, "run", "pids", `${name}.json`), "utf8");
    const { pid } = JSON.parse(text) as { pid?: unknown };
    if (typeof pid !== "number" || !Number.isInteger(pid) || pid <= 1)
      throw new Error(`bad pid record ${name}: ${text}`);
    return pid;
  }

  /** `sixgate status --json` for a config, whether or not the lab started that agent. */
  status(configPath: string): Promise<AgentStatus> {
    return readStatus(this.ns.gw, configPath);
  }

  // ---------------------------------------------------------------- teardown

  private async stopProcess(proc: LabProcess, graceMs: number): Promise<void> {
    if (proc.exitInfo !== undefined) return;
    signalPid(proc.pid, "SIGTERM");
    const timer = sleep(graceMs).then(() => undefined);
    if ((await Promise.race([proc.exited, timer])) === undefined) {
      signalPid(proc.pid, "SIGKILL");
      await Promise.race([proc.exited, sleep(2_000)]);
    }
  }

  /** Deletes every namespace and kills every process of the lab. Safe to call more than once. */
  destroy(): Promise<void> {
    this.destroying ??= this.doDestroy();
    return this.destroying;
  }

  private async doDestroy(): Promise<void> {
    if (this.destroyed) return;
    // The agent first, gracefully: it may still be tearing down its own listeners.
    for (const agent of this.agents) {
      agent.stop("SIGTERM");
      if ((await agent.waitExit(3_000)) === undefined) {
        agent.stop("SIGKILL");
        await agent.waitExit(2_000);
      }
    }
    await Promise.all(this.processes.map((p) => this.stopProcess(p, 1_000)));
    // Anything still inside our namespaces (e.g. socat orphaned by a SIGKILLed agent) is ours.
    const namespaces = [...ROLES.map((r) => this.ns[r]), ...this.lanHosts];
    for (let attempt = 0; attempt < 20; attempt++) {
      const left = (await Promise.all(namespaces.map(nsPids))).flat();
      if (left.length === 0) break;
      for (const pid of left) signalPid(pid, "SIGKILL");
      await sleep(50);
    }
    for (const name of namespaces) await run(["ip", "netns", "delete", name]);
    await rm(this.etcNetnsDir, { recursive: true, force: true });
    if (process.env.SIXGATE_LAB_KEEP === "1") process.stderr.write(`sixgate lab: kept ${this.dir}\n`);
    else await rm(this.dir, { recursive: true, force: true });
    this.destroyed = true;
    liveLabs.delete(this);
  }

  /** Synchronous last resort for process exit and signals: kill by pid, delete namespaces. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    liveLabs.delete(this);
    for (const agent of this.agents) agent.stop("SIGKILL");
    for (const p of this.processes) if (p.exitInfo === undefined) signalPid(p.pid, "SIGKILL");
    destroyNamespacesSync([...Object.values(this.ns), ...this.lanHosts]);
    rmSync(this.etcNetnsDir, { recursive: true, force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function destroyNamespacesSync(names: readonly string[]): void {
  for (const name of names) {
    const pids = spawnSync("ip", ["netns", "pids", name], { encoding: "utf8", timeout: 5_000 });
    for (const pid of (pids.stdout || "").split("\n").map(Number)) {
      if (Number.isInteger(pid) && pid > 0) signalPid(pid, "SIGKILL");
    }
    spawnSync("ip", ["netns", "delete", name], { timeout: 5_000, stdio: "ignore" });
  }
}

function isPlainObject(v: unknown): v is ConfigOverrides {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function mergeConfig(base: ConfigOverrides, overrides: ConfigOverrides): ConfigOverrides {
  const out = new Map(Object.entries(base));
  for (const [key, value] of Object.entries(overrides)) {
    const current = out.get(key);
    if (value === undefined) out.delete(key);
    else if (isPlainObject(value) && isPlainObject(current)) out.set(key, mergeConfig(current, value));
    else out.set(key, value);
  }
  return Object.fromEntries(out);
}

/**
 * Removes labs left behind by a process that died without cleaning up (SIGKILL, crash):
 * only labs whose recorded owner pid is gone, so labs of concurrent runs are untouched.
 */
export function sweepStaleLabs(): void {
  for (const entry of readdirSync(tmpdir())) {
    if (!entry.startsWith(LAB_DIR_PREFIX)) continue;
    const dir = join(tmpdir(), entry);
    let record: LabRecord;
    try {
      record = JSON.parse(readFileSync(join(dir, "lab.json"), "utf8")) as LabRecord;
    } catch {
      continue;
    }
    if (pidAlive(record.owner)) continue;
    destroyNamespacesSync(
      record.namespaces.filter((n) => /^sg[a-z0-9]{6}-(cli|gw|dev|h[a-z0-9]{1,7})$/.test(n)),
    );
    if (record.etcNetns.startsWith("/etc/netns/sg"))
      rmSync(record.etcNetns, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Builds a complete lab: namespaces, addresses, dnsmasq, httpd on the device, a DHCP lease. */
export async function createLab(): Promise<Lab> {
  if (process.getuid?.() !== 0) throw new Error("the network lab needs root (network namespaces)");
  sweepStaleLabs();
  const id = randomId();
  const dir = await mkdtemp(join(tmpdir(), `${LAB_DIR_PREFIX}${id}-`));
  chmodSync(dir, 0o755);
  const lab = new Lab(id, dir);
  const record: LabRecord = {
    owner: process.pid,
    namespaces: Object.values(lab.ns),
    etcNetns: lab.etcNetnsDir,
  };
  await writeFile(join(dir, "lab.json"), JSON.stringify(record));
  liveLabs.add(lab);
  installSafetyNet();
  try {
    await lab.setUp();
  } catch (err) {
    await lab.destroy();
    throw err;
  }
  return lab;
}

/** Waits until a client gets the device's answer for `listen` at `address` (the right device port). */
export async function waitServes(
  lab: Lab,
  agent: AgentProcess,
  listen: number,
  address = lab.wanAddress,
  timeoutMs = 5_000,
): Promise<void> {
  const target = DEFAULT_PORTS.find((p) => p.listen === listen)?.target;
  let last = "";
  await waitFor(
    async () => {
      const r = await lab.curl6(listen, address, { connectTimeoutS: 1, maxTimeS: 2 });
      last = `exit ${String(r.exitCode)} ${r.stderr.trim()} ${r.body.trim()}`;
      return r.ok && r.answer?.port === target && r.answer?.remote === LAN_ADDRESS;
    },
    {
      timeoutMs,
      intervalMs: 20,
      message: () => `[${address}]:${listen} did not serve; last curl: ${last}\n${agent.tail()}`,
    },
  );
}

/** Waits until [wan]:listen answers as the device's port `target`, through the gateway's LAN address. */
export async function waitAnswers(
  lab: Lab,
  agent: AgentProcess,
  listen: number,
  target: number,
): Promise<void> {
  let last = "";
  await waitFor(
    async () => {
      const r = await lab.curl6(listen, lab.wanAddress, { connectTimeoutS: 1, maxTimeS: 2 });
      last = `exit ${String(r.exitCode)} ${r.stderr.trim()} ${r.body.trim()}`;
      return r.answer?.port === target && r.answer.remote === LAN_ADDRESS;
    },
    {
      timeoutMs: 10_000,
      intervalMs: 100,
      message: () => `:${listen} never answered as :${target}: ${last}\n${agent.tail()}`,
    },
  );
}

/** The part of node:test's TestContext the lab needs (so the demo need not import node:test). */
export interface AfterHook {
  after(fn: () => Promise<void>): void;
}

/** createLab() whose destroy() runs after the test, pass or fail. */
export async function createLabFor(t: AfterHook): Promise<Lab> {
  const lab = await createLab();
  t.after(() => lab.destroy());
  return lab;
}
