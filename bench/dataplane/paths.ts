// The paths the data-plane bench compares, from the IPv6 client to nginx on the IPv4 device: the kernel routing
// IPv6 straight to the device (the baseline), and the user-space relays a user could put on the gateway instead.
// Each path starts before a round's measurements and stops after them, so only one relay runs at a time.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { cliArgv, run, sleep, type AgentProcess, type Lab, type LabProcess } from "../../test/lab/lab.js";

/** The device's web server port, and where the kernel path reaches it over IPv6. */
export const NGINX_PORT = 8080;
export const KERNEL_PREFIX = "fd00:5::";
export const DEVICE_V6 = `${KERNEL_PREFIX}2`;
const GATEWAY_V6 = `${KERNEL_PREFIX}1`;

export interface PathContext {
  lab: Lab;
  /** The device's IPv4 address (its DHCP lease). */
  device: string;
}

export interface BenchPath {
  id: "kernel" | "socat" | "6tunnel" | "haproxy" | "sixgate-socat" | "sixgate-haproxy";
  label: string;
  /** The IPv6 address and port the client asks. */
  address: string;
  port: number;
  /** Undefined when the path can run here, else why not (printed as "not available"). */
  unavailable(ctx: PathContext): Promise<string | undefined>;
  start(ctx: PathContext): Promise<void>;
  stop(ctx: PathContext): Promise<void>;
}

/** Stops a process the lab spawned: SIGTERM, then SIGKILL after graceMs. */
async function stopSpawned(proc: LabProcess | undefined, graceMs = 3_000): Promise<void> {
  if (proc === undefined || proc.exitInfo !== undefined) return;
  proc.child.kill("SIGTERM");
  if ((await Promise.race([proc.exited, sleep(graceMs).then(() => undefined)])) !== undefined) return;
  proc.child.kill("SIGKILL");
  await Promise.race([proc.exited, sleep(2_000)]);
}

/** The kernel path: the device gets an IPv6 address and the gateway forwards to it, for this path's rounds only. */
function kernelPath(): BenchPath {
  return {
    id: "kernel",
    label: "kernel-routed IPv6",
    address: DEVICE_V6,
    port: NGINX_PORT,
    unavailable: () => Promise.resolve(undefined),
    async start({ lab }) {
      // No link-local address on the device: it speaks IPv6 only with the address this path gives it.
      await lab.sysctl("dev", {
        "net.ipv6.conf.eth0.addr_gen_mode": 1,
        "net.ipv6.conf.eth0.disable_ipv6": 0,
      });
      await lab.ipOk("dev", ["-6", "addr", "add", `${DEVICE_V6}/64`, "dev", "eth0", "nodad"]);
      await lab.ipOk("dev", ["-6", "route", "add", "default", "via", GATEWAY_V6, "dev", "eth0"]);
      await lab.ipOk("gw", ["-6", "addr", "add", `${GATEWAY_V6}/64`, "dev", "lan0", "nodad"]);
      await lab.sysctl("gw", { "net.ipv6.conf.all.forwarding": 1 });
      await lab.ipOk("cli", ["-6", "route", "add", `${KERNEL_PREFIX}/64`, "via", lab.wanAddress]);
    },
    async stop({ lab }) {
      // Every step even if one fails (start may have stopped half-way), then the state the other paths need.
      const sysctl = (role: "gw" | "dev", setting: string) => lab.exec(role, ["sysctl", "-q", "-w", setting]);
      await lab.ip("cli", ["-6", "route", "del", `${KERNEL_PREFIX}/64`]);
      await sysctl("gw", "net.ipv6.conf.all.forwarding=0");
      await lab.ip("gw", ["-6", "addr", "del", `${GATEWAY_V6}/64`, "dev", "lan0"]);
      await lab.ip("gw", ["-6", "neigh", "flush", "dev", "lan0"]);
      await sysctl("dev", "net.ipv6.conf.eth0.disable_ipv6=1");
      const read = async (role: "gw" | "dev", key: string) =>
        (await lab.exec(role, ["sysctl", "-n", key])).stdout.trim();
      const forwarding = await read("gw", "net.ipv6.conf.all.forwarding");
      const deviceV6Off = await read("dev", "net.ipv6.conf.eth0.disable_ipv6");
      if (forwarding !== "0" || deviceV6Off !== "1")
        throw new Error(
          `kernel path not undone: gw forwarding=${forwarding}, device disable_ipv6=${deviceV6Off}`,
        );
    },
  };
}

/** A relay the user starts by hand in the gateway (one process, stopped by pid). */
function handPath(
  id: BenchPath["id"],
  label: string,
  address: string,
  port: number,
  argv: (ctx: PathContext) => Promise<string[]>,
): BenchPath {
  let proc: LabProcess | undefined;
  return {
    id,
    label,
    address,
    port,
    unavailable: () => Promise.resolve(undefined),
    async start(ctx) {
      proc = ctx.lab.spawn("gw", await argv(ctx), `${id}-${String(port)}`);
    },
    async stop() {
      await stopSpawned(proc);
      proc = undefined;
    },
  };
}

/** HAProxy as a user configures it by hand: TCP mode, the frontend on the WAN address, the source pinned to the LAN. */
async function writeHandHaproxyConfig({ lab, device }: PathContext, port: number): Promise<string> {
  const path = join(lab.dir, "haproxy-hand.cfg");
  await writeFile(
    path,
    [
      "global",
      "  maxconn 4096",
      "defaults",
      "  mode tcp",
      "  timeout connect 5s",
      "  timeout client 60s",
      "  timeout server 60s",
      "frontend bench",
      `  bind [${lab.wanAddress}]:${String(port)} v6only`,
      "  default_backend device",
      "backend device",
      `  server dev ${device}:${String(NGINX_PORT)} source ${lab.lanAddress}`,
      "",
    ].join("\n"),
  );
  return path;
}

/** The agent as shipped (dist/), started as the other benches start it, forwarding one port to nginx. */
function sixgatePath(
  id: "sixgate-socat" | "sixgate-haproxy",
  address: string,
  port: number,
  backend?: "haproxy",
): BenchPath {
  let agent: AgentProcess | undefined;
  const configFor = (lab: Lab) =>
    lab.writeConfig(
      {
        ports: [{ listen: port, target: NGINX_PORT }],
        logLevel: "info", // the shipped default: the lab's debug level logs every command
        ...(backend === undefined ? {} : { listener: { backend } }),
      },
      `dataplane-${id}.yaml`,
    );
  return {
    id,
    label: id,
    address,
    port,
    async unavailable({ lab }) {
      if (backend === undefined) return undefined;
      // The config schema is strict: `sixgate plan` taking the config means this agent knows the backend.
      const r = await run(cliArgv(lab.ns.gw, ["plan", "--config", await configFor(lab)]), {
        timeoutMs: 30_000,
      });
      if (r.ok) return undefined;
      const why = (r.stderr.trim() || r.stdout.trim()).split("\n").slice(1, 3).join(" ").trim();
      return `sixgate plan does not take listener.backend: ${backend} (${why.slice(0, 200)})`;
    },
    async start({ lab }) {
      agent = lab.startAgent(await configFor(lab));
      await agent.waitPhase("serving", 30_000);
      // The figure is the backend's only if the backend's own program holds the port.
      const program = backend ?? "socat";
      const ss = await lab.exec("gw", ["ss", "-H", "-l", "-t", "-n", "-p", "sport", "=", `:${String(port)}`]);
      if (!ss.stdout.includes(`"${program}"`))
        throw new Error(
          `port ${String(port)} is not held by ${program}: ${ss.stdout.trim() || "nothing listens"}`,
        );
    },
    async stop() {
      if (agent === undefined) return;
      agent.stop("SIGTERM");
      if ((await agent.waitExit(10_000)) === undefined) {
        agent.stop("SIGKILL");
        await agent.waitExit(5_000);
      }
      agent = undefined;
    },
  };
}

/** Every path, the baseline first. Listen ports 9001.. on the gateway's WAN address. */
export function benchPaths(lab: Lab): BenchPath[] {
  const wan = lab.wanAddress;
  return [
    kernelPath(),
    handPath("socat", "socat (by hand)", wan, 9001, ({ device }) =>
      Promise.resolve([
        "socat",
        `TCP6-LISTEN:9001,bind=[${wan}],ipv6only=1,fork,reuseaddr`,
        `TCP4:${device}:${String(NGINX_PORT)}`,
      ]),
    ),
    handPath("6tunnel", "6tunnel", wan, 9002, ({ device }) =>
      // -d: stay in the foreground; -6: listen on IPv6; -4: connect over IPv4.
      Promise.resolve(["6tunnel", "-d", "-6", "-4", "-l", wan, "9002", device, String(NGINX_PORT)]),
    ),
    handPath("haproxy", "HAProxy (by hand)", wan, 9003, async (ctx) => [
      "haproxy",
      "-db",
      "-f",
      await writeHandHaproxyConfig(ctx, 9003),
    ]),
    sixgatePath("sixgate-socat", wan, 9004),
    sixgatePath("sixgate-haproxy", wan, 9005, "haproxy"),
  ];
}
