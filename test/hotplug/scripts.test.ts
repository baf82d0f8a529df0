// The hook scripts in hotplug/ as shipped: each is run the way its caller runs it (OpenWrt's hotplug-call sources
// it in a subshell of busybox ash; dnsmasq, networkd-dispatcher and NetworkManager execute theirs with arguments,
// here under busybox ash and dash), with the shipped hotplug/notify.sh and a PATH of busybox applets plus socat,
// as on a gateway: no node anywhere. What they send is checked where it arrives, on the notification socket of a
// real server (src/sources/hotplug.ts, which validates every line as the agent does), and each run is timed.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { makeStaleSocket, startServer, warnings, type RunningServer } from "./helpers.js";
import type { HotplugMessage } from "../../src/sources/hotplug.js";

const ROOT = resolve(import.meta.dirname, "../..");
const HOOKS = join(ROOT, "hotplug");
const LIB = join(HOOKS, "notify.sh");
const BUSYBOX = ["/usr/bin/busybox", "/bin/busybox"].find((p) => existsSync(p));
const DASH = ["/usr/bin/dash", "/bin/dash"].find((p) => existsSync(p));
const SOCAT = ["/usr/bin/socat", "/usr/local/bin/socat"].find((p) => existsSync(p));
const SHELLCHECK = ["/usr/bin/shellcheck", "/usr/local/bin/shellcheck"].find((p) => existsSync(p));
/**
 * A delivery takes milliseconds (npm run bench has the figures); this bound only catches a hook that waits for
 * something, such as socat's one-second timeouts, on a machine that may be busy with other tests.
 */
const DELIVERY_BUDGET_MS = 900;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

let work = "";
/** busybox applets and socat, as on OpenWrt. */
let gatewayPath = "";
/** busybox applets only: a gateway without socat. */
let busyboxOnlyPath = "";

function run(argv: string[], env: Record<string, string>): Promise<Run> {
  const started = performance.now();
  return new Promise((resolveRun) => {
    const [file, ...args] = argv;
    execFile(
      file ?? "",
      args,
      { env: { PATH: gatewayPath, SIXGATE_NOTIFY_LIB: LIB, ...env }, timeout: 10000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : null;
        resolveRun({ code, stdout, stderr, ms: performance.now() - started });
      },
    );
  });
}

/** Runs an OpenWrt hotplug.d file as /sbin/hotplug-call does: sourced, in a subshell, by busybox ash. */
function hotplugCall(script: string, env: Record<string, string>): Promise<Run> {
  const caller = 'for script in "$@"; do ( [ -f "$script" ] && . "$script" ); done';
  return run([BUSYBOX ?? "busybox", "ash", "-c", caller, "hotplug-call", join(HOOKS, script)], env);
}

/** Runs a Debian hook as its caller does: executed, with arguments. */
function execHook(shell: string, script: string, args: string[], env: Record<string, string>): Promise<Run> {
  const argv = shell === "busybox" ? [BUSYBOX ?? "busybox", "ash"] : [shell];
  return run([...argv, join(HOOKS, script), ...args], env);
}

/** OpenWrt files (no args) are sourced by hotplug-call; the others run under busybox ash and dash. */
function runHook(shell: string, script: string, args: string[] | undefined, env: Record<string, string>) {
  return args === undefined ? hotplugCall(script, env) : execHook(shell, script, args, env);
}

before(async () => {
  if (BUSYBOX === undefined) return;
  work = await mkdtemp(join(tmpdir(), "sixgate-hooks-"));
  busyboxOnlyPath = join(work, "busybox-bin");
  gatewayPath = join(work, "bin");
  await mkdir(busyboxOnlyPath);
  await mkdir(gatewayPath);
  const applets = execFileSync(BUSYBOX, ["--list"], { encoding: "utf8" }).split("\n").filter(Boolean);
  for (const dir of [busyboxOnlyPath, gatewayPath]) {
    await Promise.all(applets.map((a) => symlink(BUSYBOX, join(dir, a))));
  }
  if (SOCAT !== undefined) await symlink(SOCAT, join(gatewayPath, "socat"));
});

after(async () => {
  if (work !== "") await rm(work, { recursive: true, force: true });
});

const skip =
  BUSYBOX === undefined ? "busybox is not installed" : SOCAT === undefined ? "socat is not installed" : false;

interface Case {
  name: string;
  script: string;
  /** Undefined for OpenWrt files (sourced by hotplug-call); otherwise executed with these arguments. */
  args?: string[];
  env: Record<string, string>;
  /** The message the agent receives, or undefined when nothing may be sent. */
  expect: HotplugMessage | undefined;
}

const MAC = "02:00:00:00:01:00";
const cases: Case[] = [
  {
    name: "OpenWrt iface ifup",
    script: "openwrt-iface",
    env: { ACTION: "ifup", INTERFACE: "wan", DEVICE: "eth0.2" },
    expect: { kind: "iface", action: "ifup", interface: "wan", device: "eth0.2" },
  },
  {
    name: "OpenWrt iface ifdown without DEVICE",
    script: "openwrt-iface",
    env: { ACTION: "ifdown", INTERFACE: "wan6" },
    expect: { kind: "iface", action: "ifdown", interface: "wan6" },
  },
  {
    name: "OpenWrt iface ifupdate",
    script: "openwrt-iface",
    env: { ACTION: "ifupdate", INTERFACE: "lan", DEVICE: "br-lan", IFUPDATE_ADDRESSES: "1" },
    expect: { kind: "iface", action: "ifupdate", interface: "lan", device: "br-lan" },
  },
  {
    name: "OpenWrt iface: other actions are ignored",
    script: "openwrt-iface",
    env: { ACTION: "ifup-failed", INTERFACE: "wan" },
    expect: undefined,
  },
  {
    name: "OpenWrt dhcp add",
    script: "openwrt-dhcp",
    env: { ACTION: "add", MACADDR: "02:00:00:00:01:0A", IPADDR: "192.168.1.100", HOSTNAME: "camera" },
    expect: { kind: "dhcp", action: "add", mac: "02:00:00:00:01:0a", ip: "192.168.1.100" },
  },
  {
    name: "OpenWrt dhcp remove",
    script: "openwrt-dhcp",
    env: { ACTION: "remove", MACADDR: MAC, IPADDR: "192.168.1.100" },
    expect: { kind: "dhcp", action: "remove", mac: MAC, ip: "192.168.1.100" },
  },
  {
    name: "OpenWrt dhcp update",
    script: "openwrt-dhcp",
    env: { ACTION: "update", MACADDR: MAC, IPADDR: "192.168.1.101" },
    expect: { kind: "dhcp", action: "update", mac: MAC, ip: "192.168.1.101" },
  },
  {
    name: "OpenWrt dhcp: a DHCPv6 lease is skipped",
    script: "openwrt-dhcp",
    env: { ACTION: "add", MACADDR: "00:01:00:01:2a:3b:4c:5d:02:00:00:00:01:00", IPADDR: "fd00::100" },
    expect: undefined,
  },
  {
    name: "dnsmasq add",
    script: "dnsmasq-dhcp-script",
    args: ["add", MAC, "192.168.1.100", "camera"],
    env: { DNSMASQ_INTERFACE: "lan0" },
    expect: { kind: "dhcp", action: "add", mac: MAC, ip: "192.168.1.100" },
  },
  {
    name: "dnsmasq old without hostname",
    script: "dnsmasq-dhcp-script",
    args: ["old", MAC, "192.168.1.100"],
    env: {},
    expect: { kind: "dhcp", action: "old", mac: MAC, ip: "192.168.1.100" },
  },
  {
    name: "dnsmasq del",
    script: "dnsmasq-dhcp-script",
    args: ["del", MAC, "192.168.1.100", "camera"],
    env: {},
    expect: { kind: "dhcp", action: "del", mac: MAC, ip: "192.168.1.100" },
  },
  {
    name: "dnsmasq arp-add is not forwarded (ARP changes leave the lease file alone)",
    script: "dnsmasq-dhcp-script",
    args: ["arp-add", MAC, "192.168.1.100"],
    env: {},
    expect: undefined,
  },
  {
    name: "dnsmasq init prints nothing and sends nothing",
    script: "dnsmasq-dhcp-script",
    args: ["init"],
    env: {},
    expect: undefined,
  },
  {
    name: "dnsmasq tftp is ignored",
    script: "dnsmasq-dhcp-script",
    args: ["tftp", "1024", "192.168.1.100", "/srv/tftp/file"],
    env: {},
    expect: undefined,
  },
  {
    name: "dnsmasq DHCPv6 lease is skipped",
    script: "dnsmasq-dhcp-script",
    args: ["add", "00:01:00:01:2a:3b:4c:5d:02:00:00:00:01:00", "fd00::100", "camera"],
    env: {},
    expect: undefined,
  },
  {
    name: "networkd-dispatcher routable",
    script: "networkd-dispatcher",
    args: [],
    env: { IFACE: "enp1s0", STATE: "routable", AdministrativeState: "configured" },
    expect: { kind: "iface", action: "routable", interface: "enp1s0" },
  },
  {
    name: "networkd-dispatcher no-carrier",
    script: "networkd-dispatcher",
    args: [],
    env: { IFACE: "enp1s0", STATE: "no-carrier" },
    expect: { kind: "iface", action: "no-carrier", interface: "enp1s0" },
  },
  {
    name: "networkd-dispatcher configuring is ignored",
    script: "networkd-dispatcher",
    args: [],
    env: { IFACE: "enp1s0", STATE: "configuring" },
    expect: undefined,
  },
  {
    name: "NetworkManager up",
    script: "nm-dispatcher",
    args: ["eth0", "up"],
    env: { DEVICE_IFACE: "eth0", DEVICE_IP_IFACE: "eth0", CONNECTION_ID: "Wired connection 1" },
    expect: { kind: "iface", action: "up", interface: "eth0", device: "eth0" },
  },
  {
    name: "NetworkManager dhcp6-change on a modem",
    script: "nm-dispatcher",
    args: ["wwan0", "dhcp6-change"],
    env: { DEVICE_IP_IFACE: "ppp0" },
    expect: { kind: "iface", action: "dhcp6-change", interface: "wwan0", device: "ppp0" },
  },
  {
    name: "NetworkManager pre-up is ignored",
    script: "nm-dispatcher",
    args: ["eth0", "pre-up"],
    env: {},
    expect: undefined,
  },
  // Values the agent would refuse: the line is never built, so nothing can be smuggled into the JSON.
  {
    name: "OpenWrt iface: a quote in INTERFACE sends nothing",
    script: "openwrt-iface",
    env: { ACTION: "ifup", INTERFACE: 'wan","kind":"dhcp' },
    expect: undefined,
  },
  {
    name: "OpenWrt dhcp: a space in MACADDR sends nothing",
    script: "openwrt-dhcp",
    env: { ACTION: "add", MACADDR: "02:00 00:00:01:00", IPADDR: "192.168.1.100" },
    expect: undefined,
  },
  {
    name: "dnsmasq: a backslash in the address sends nothing",
    script: "dnsmasq-dhcp-script",
    args: ["add", MAC, "192.168.1.100\\"],
    env: {},
    expect: undefined,
  },
];

const shells = (c: Case) => (c.args === undefined ? ["hotplug-call"] : ["busybox", ...(DASH ? [DASH] : [])]);

describe("the shipped hooks deliver to a real socket, without node", { skip }, () => {
  let server: RunningServer | undefined;
  let sentinels = 0;
  const timings: number[] = [];

  before(async () => {
    if (skip === false) server = await startServer();
  });

  after(async () => {
    await server?.stop();
  });

  /** Sends a marker through the shipped sender, then returns what arrived since `from`, the marker excluded. */
  async function arrivedSince(from: number, expected: number): Promise<HotplugMessage[]> {
    assert.ok(server !== undefined);
    const marker = `mark${sentinels++}`;
    const sent = await run(
      [
        BUSYBOX ?? "busybox",
        "ash",
        "-c",
        '. "$SIXGATE_NOTIFY_LIB" && sixgate_notify iface action=mark interface=$1',
        "sh",
        marker,
      ],
      { SIXGATE_SOCKET: server.socketPath },
    );
    assert.equal(sent.code, 0, sent.stderr);
    const all = await server.messages(from + expected + 1);
    assert.ok(
      all.slice(from).some((m) => m.kind === "iface" && m.interface === marker),
      "the marker arrived",
    );
    return all.slice(from).filter((m) => !(m.kind === "iface" && m.interface === marker));
  }

  for (const c of cases) {
    for (const shell of shells(c)) {
      test(`${c.name} (${shell === "hotplug-call" ? "busybox ash, sourced" : shell})`, async () => {
        assert.ok(server !== undefined);
        const from = server.received.length;
        const result = await runHook(shell, c.script, c.args, {
          ...c.env,
          SIXGATE_SOCKET: server.socketPath,
        });
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, "");
        assert.equal(result.stderr, "");
        assert.ok(result.ms < DELIVERY_BUDGET_MS, `took ${Math.round(result.ms)} ms`);
        if (c.expect !== undefined) timings.push(result.ms);
        assert.deepEqual(
          await arrivedSince(from, c.expect === undefined ? 0 : 1),
          c.expect === undefined ? [] : [c.expect],
        );
        assert.deepEqual(warnings(server.records), [], "the agent refused nothing");
      });
    }
  }

  test("timing of the deliveries above", (t) => {
    const sorted = [...timings].sort((a, b) => a - b);
    assert.ok(sorted.length >= 10);
    t.diagnostic(
      `${sorted.length} deliveries: median ${Math.round(sorted[Math.floor(sorted.length / 2)] ?? NaN)} ms, ` +
        `max ${Math.round(sorted[sorted.length - 1] ?? NaN)} ms (figures: npm run bench)`,
    );
  });

  test("without socat on PATH: exit 0, silent, nothing sent", async () => {
    assert.ok(server !== undefined);
    const from = server.received.length;
    const started = performance.now();
    const result = await new Promise<Run>((resolveRun) =>
      execFile(
        BUSYBOX ?? "busybox",
        ["ash", join(HOOKS, "nm-dispatcher"), "eth0", "up"],
        { env: { PATH: busyboxOnlyPath, SIXGATE_NOTIFY_LIB: LIB, SIXGATE_SOCKET: server?.socketPath ?? "" } },
        (error, stdout, stderr) =>
          resolveRun({ code: error === null ? 0 : 1, stdout, stderr, ms: performance.now() - started }),
      ),
    );
    assert.equal(result.code, 0);
    assert.equal(result.stdout + result.stderr, "");
    assert.deepEqual(await arrivedSince(from, 0), []);
  });
});

describe("the hooks never block and never fail", { skip }, () => {
  const everyHook: [string, string[] | undefined, Record<string, string>][] = [
    ["openwrt-iface", undefined, { ACTION: "ifup", INTERFACE: "wan", DEVICE: "eth0" }],
    ["openwrt-dhcp", undefined, { ACTION: "add", MACADDR: MAC, IPADDR: "192.168.1.100" }],
    ["dnsmasq-dhcp-script", ["add", MAC, "192.168.1.100"], {}],
    ["networkd-dispatcher", [], { IFACE: "eth0", STATE: "routable" }],
    ["nm-dispatcher", ["eth0", "up"], {}],
  ];
  const each = async (env: Record<string, string>, budgetMs = DELIVERY_BUDGET_MS) => {
    for (const [script, args, scriptEnv] of everyHook) {
      const result = await runHook("busybox", script, args, { ...scriptEnv, ...env });
      assert.equal(result.code, 0, script);
      assert.equal(result.stdout + result.stderr, "", script);
      assert.ok(result.ms < budgetMs, `${script} took ${Math.round(result.ms)} ms`);
    }
  };

  test("no agent: no socket file", async () => {
    await each({ SIXGATE_SOCKET: join(work, "nowhere", "notify.sock") });
  });

  test("an agent killed with SIGKILL: a socket file nobody listens on", async () => {
    const dir = await mkdtemp(join(work, "stale-"));
    const path = join(dir, "notify.sock");
    makeStaleSocket(path);
    await each({ SIXGATE_SOCKET: path });
  });

  test("no notify.sh installed", async () => {
    await each({ SIXGATE_NOTIFY_LIB: join(work, "missing", "notify.sh"), SIXGATE_SOCKET: "/nonexistent" });
  });

  test("an agent that accepts and never reads: the line waits in the socket, the hook returns", async () => {
    const dir = await mkdtemp(join(work, "hung-"));
    const path = join(dir, "notify.sock");
    const held: Socket[] = [];
    const hung = createServer((s) => {
      s.pause();
      held.push(s);
    });
    await new Promise<void>((r) => hung.listen(path, r));
    try {
      await each({ SIXGATE_SOCKET: path }, 1500);
      assert.equal(held.length, everyHook.length, "every hook connected");
    } finally {
      for (const s of held) s.destroy();
      await new Promise((r) => hung.close(r));
    }
  });
});

test(
  "shellcheck -s sh finds nothing in the hooks",
  { skip: SHELLCHECK === undefined ? "shellcheck missing" : false },
  () => {
    const files = [
      "notify.sh",
      "dnsmasq-dhcp-script",
      "networkd-dispatcher",
      "nm-dispatcher",
      "openwrt-dhcp",
      "openwrt-iface",
    ];
    const output = execFileSync(
      SHELLCHECK ?? "shellcheck",
      ["-s", "sh", ...files.map((f) => join(HOOKS, f))],
      { encoding: "utf8", cwd: ROOT },
    );
    assert.equal(output, "");
  },
);
