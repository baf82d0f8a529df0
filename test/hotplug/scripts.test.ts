// The hook scripts in hotplug/, run the way their callers run them: OpenWrt's hotplug-call sources them in a
// subshell of busybox ash with the environment netifd and dnsmasq give; dnsmasq, networkd-dispatcher and
// NetworkManager execute theirs with arguments. PATH holds busybox applets only, so nothing else is relied on.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { startServer, type RunningServer } from "./helpers.js";
import type { HotplugMessage } from "../../src/sources/hotplug.js";

const ROOT = resolve(import.meta.dirname, "../..");
const HOOKS = join(ROOT, "hotplug");
const BUSYBOX = ["/usr/bin/busybox", "/bin/busybox"].find((p) => existsSync(p));
const DASH = ["/usr/bin/dash", "/bin/dash"].find((p) => existsSync(p));
const SHELLCHECK = ["/usr/bin/shellcheck", "/usr/local/bin/shellcheck"].find((p) => existsSync(p));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

let work = "";
let busyboxPath = "";

function run(argv: string[], env: Record<string, string>): Promise<Run> {
  const started = performance.now();
  return new Promise((resolveRun) => {
    const [file, ...args] = argv;
    execFile(
      file ?? "",
      args,
      { env: { PATH: busyboxPath, ...env }, timeout: 10000 },
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

/** A stand-in `sixgate` that records its arguments, one per line. */
async function recordingStub(): Promise<{
  bin: string;
  out: string;
  calls: () => Promise<string[] | undefined>;
}> {
  const dir = await mkdtemp(join(work, "stub-"));
  const out = join(dir, "args");
  const bin = join(dir, "sixgate");
  await writeFile(bin, `#!${BUSYBOX ?? "/bin/sh"} ash\nprintf '%s\\n' "$@" > "${out}"\n`);
  await chmod(bin, 0o755);
  return {
    bin,
    out,
    calls: async () => {
      try {
        return (await readFile(out, "utf8")).trimEnd().split("\n");
      } catch {
        return undefined;
      }
    },
  };
}

before(async () => {
  if (BUSYBOX === undefined) return;
  work = await mkdtemp(join(tmpdir(), "sixgate-hooks-"));
  // PATH with busybox applets only, as on OpenWrt.
  busyboxPath = join(work, "bin");
  await mkdir(busyboxPath);
  const applets = execFileSync(BUSYBOX, ["--list"], { encoding: "utf8" }).split("\n").filter(Boolean);
  await Promise.all(applets.map((a) => symlink(BUSYBOX, join(busyboxPath, a))));
});

after(async () => {
  if (work !== "") await rm(work, { recursive: true, force: true });
});

const skipNoBusybox = BUSYBOX === undefined ? "busybox is not installed" : false;

interface Case {
  name: string;
  script: string;
  /** "hotplug-call" for OpenWrt files; otherwise executed with these arguments. */
  args?: string[];
  env: Record<string, string>;
  /** The arguments `sixgate` gets, or undefined when it must not be called. */
  expect: string[] | undefined;
}

const cases: Case[] = [
  {
    name: "OpenWrt iface ifup",
    script: "openwrt-iface",
    env: { ACTION: "ifup", INTERFACE: "wan", DEVICE: "eth0.2" },
    expect: ["notify", "iface", "action=ifup", "interface=wan", "device=eth0.2"],
  },
  {
    name: "OpenWrt iface ifdown without DEVICE",
    script: "openwrt-iface",
    env: { ACTION: "ifdown", INTERFACE: "wan6" },
    expect: ["notify", "iface", "action=ifdown", "interface=wan6", "device="],
  },
  {
    name: "OpenWrt iface ifupdate",
    script: "openwrt-iface",
    env: { ACTION: "ifupdate", INTERFACE: "lan", DEVICE: "br-lan", IFUPDATE_ADDRESSES: "1" },
    expect: ["notify", "iface", "action=ifupdate", "interface=lan", "device=br-lan"],
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
    env: { ACTION: "add", MACADDR: "02:00:00:00:01:00", IPADDR: "192.168.1.100", HOSTNAME: "camera" },
    expect: ["notify", "dhcp", "action=add", "mac=02:00:00:00:01:00", "ip=192.168.1.100"],
  },
  {
    name: "OpenWrt dhcp remove",
    script: "openwrt-dhcp",
    env: { ACTION: "remove", MACADDR: "02:00:00:00:01:00", IPADDR: "192.168.1.100" },
    expect: ["notify", "dhcp", "action=remove", "mac=02:00:00:00:01:00", "ip=192.168.1.100"],
  },
  {
    name: "OpenWrt dhcp update",
    script: "openwrt-dhcp",
    env: { ACTION: "update", MACADDR: "02:00:00:00:01:00", IPADDR: "192.168.1.101" },
    expect: ["notify", "dhcp", "action=update", "mac=02:00:00:00:01:00", "ip=192.168.1.101"],
  },
  {
    name: "OpenWrt dhcp: a DHCPv6 lease is skipped",
    script: "openwrt-dhcp",
    env: { ACTION: "add", MACADDR: "00:01:00:01:2a:3b:4c:5d:02:00:00:00:01:00", IPADDR: "fd00::100" },
    expect: undefined,
  },
  {
    name: "OpenWrt neigh add",
    script: "openwrt-neigh",
    env: { ACTION: "add", MACADDR: "02:00:00:00:01:00", IPADDR: "192.168.1.100" },
    expect: ["notify", "neigh", "action=add", "mac=02:00:00:00:01:00", "ip=192.168.1.100"],
  },
  {
    name: "OpenWrt neigh remove",
    script: "openwrt-neigh",
    env: { ACTION: "remove", MACADDR: "02:00:00:00:01:00", IPADDR: "192.168.1.100" },
    expect: ["notify", "neigh", "action=remove", "mac=02:00:00:00:01:00", "ip=192.168.1.100"],
  },
  {
    name: "dnsmasq add",
    script: "dnsmasq-dhcp-script",
    args: ["add", "02:00:00:00:01:00", "192.168.1.100", "camera"],
    env: { DNSMASQ_INTERFACE: "lan0" },
    expect: ["notify", "dhcp", "action=add", "mac=02:00:00:00:01:00", "ip=192.168.1.100"],
  },
  {
    name: "dnsmasq old without hostname",
    script: "dnsmasq-dhcp-script",
    args: ["old", "02:00:00:00:01:00", "192.168.1.100"],
    env: {},
    expect: ["notify", "dhcp", "action=old", "mac=02:00:00:00:01:00", "ip=192.168.1.100"],
  },
  {
    name: "dnsmasq del",
    script: "dnsmasq-dhcp-script",
    args: ["del", "02:00:00:00:01:00", "192.168.1.100", "camera"],
    env: {},
    expect: ["notify", "dhcp", "action=del", "mac=02:00:00:00:01:00", "ip=192.168.1.100"],
  },
  {
    name: "dnsmasq arp-add",
    script: "dnsmasq-dhcp-script",
    args: ["arp-add", "02:00:00:00:01:00", "192.168.1.100"],
    env: {},
    expect: ["notify", "neigh", "action=arp-add", "mac=02:00:00:00:01:00", "ip=192.168.1.100"],
  },
  {
    name: "dnsmasq init prints nothing and calls nothing",
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
    expect: ["notify", "iface", "action=routable", "interface=enp1s0"],
  },
  {
    name: "networkd-dispatcher no-carrier",
    script: "networkd-dispatcher",
    args: [],
    env: { IFACE: "enp1s0", STATE: "no-carrier" },
    expect: ["notify", "iface", "action=no-carrier", "interface=enp1s0"],
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
    expect: ["notify", "iface", "action=up", "interface=eth0", "device=eth0"],
  },
  {
    name: "NetworkManager dhcp6-change on a modem",
    script: "nm-dispatcher",
    args: ["wwan0", "dhcp6-change"],
    env: { DEVICE_IP_IFACE: "ppp0" },
    expect: ["notify", "iface", "action=dhcp6-change", "interface=wwan0", "device=ppp0"],
  },
  {
    name: "NetworkManager pre-up is ignored",
    script: "nm-dispatcher",
    args: ["eth0", "pre-up"],
    env: {},
    expect: undefined,
  },
  {
    name: "NetworkManager hostname is ignored",
    script: "nm-dispatcher",
    args: ["none", "hostname"],
    env: {},
    expect: undefined,
  },
];

const shells = (c: Case) => (c.args === undefined ? ["hotplug-call"] : ["busybox", ...(DASH ? [DASH] : [])]);

describe("hooks call `sixgate notify` with the right arguments", { skip: skipNoBusybox }, () => {
  for (const c of cases) {
    for (const shell of shells(c)) {
      test(`${c.name} (${shell === "hotplug-call" ? "busybox ash, sourced" : shell})`, async () => {
        const stub = await recordingStub();
        const env = { ...c.env, SIXGATE_BIN: stub.bin };
        const result =
          c.args === undefined
            ? await hotplugCall(c.script, env)
            : await execHook(shell, c.script, c.args, env);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, "");
        assert.equal(result.stderr, "");
        assert.deepEqual(await stub.calls(), c.expect);
      });
    }
  }

  test("SIXGATE_CONFIG is passed as --config", async () => {
    const stub = await recordingStub();
    const result = await hotplugCall("openwrt-iface", {
      ACTION: "ifup",
      INTERFACE: "wan",
      SIXGATE_BIN: stub.bin,
      SIXGATE_CONFIG: "/etc/sixgate/other.yaml",
    });
    assert.equal(result.code, 0);
    assert.deepEqual(await stub.calls(), [
      "notify",
      "--config",
      "/etc/sixgate/other.yaml",
      "iface",
      "action=ifup",
      "interface=wan",
      "device=",
    ]);
  });
});

describe("hooks never block and never fail", { skip: skipNoBusybox }, () => {
  const everyHook: [string, string[] | undefined, Record<string, string>][] = [
    ["openwrt-iface", undefined, { ACTION: "ifup", INTERFACE: "wan", DEVICE: "eth0" }],
    ["openwrt-dhcp", undefined, { ACTION: "add", MACADDR: "02:00:00:00:01:00", IPADDR: "192.168.1.100" }],
    ["openwrt-neigh", undefined, { ACTION: "add", MACADDR: "02:00:00:00:01:00", IPADDR: "192.168.1.100" }],
    ["dnsmasq-dhcp-script", ["add", "02:00:00:00:01:00", "192.168.1.100"], {}],
    ["networkd-dispatcher", [], { IFACE: "eth0", STATE: "routable" }],
    ["nm-dispatcher", ["eth0", "up"], {}],
  ];
  const runHook = (script: string, args: string[] | undefined, env: Record<string, string>) =>
    args === undefined ? hotplugCall(script, env) : execHook("busybox", script, args, env);

  for (const [script, args, env] of everyHook) {
    test(`${script}: a hung sixgate is killed after about a second; exit 0`, async () => {
      const dir = await mkdtemp(join(work, "hung-"));
      const bin = join(dir, "sixgate");
      const pidFile = join(dir, "pid");
      await writeFile(bin, `#!${BUSYBOX ?? "/bin/sh"} ash\necho $$ > "${pidFile}"\nexec sleep 30\n`);
      await chmod(bin, 0o755);
      const result = await runHook(script, args, { ...env, SIXGATE_BIN: bin });
      assert.equal(result.code, 0);
      assert.ok(result.ms >= 900 && result.ms < 1600, `returned after ${Math.round(result.ms)} ms`);
      const pid = Number((await readFile(pidFile, "utf8")).trim());
      // Gone, or a zombie waiting for its new parent to reap it.
      await new Promise((r) => setTimeout(r, 100));
      const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
      assert.ok(
        stat === "" || stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z"),
        `still running: ${stat}`,
      );
    });

    test(`${script}: no sixgate installed at all; exit 0 at once`, async () => {
      const result = await runHook(script, args, env);
      assert.equal(result.code, 0);
      assert.equal(result.stdout + result.stderr, "");
      assert.ok(result.ms < 500, `took ${Math.round(result.ms)} ms`);
    });

    test(`${script}: sixgate fails; exit 0 and silent`, async () => {
      const dir = await mkdtemp(join(work, "fail-"));
      const bin = join(dir, "sixgate");
      await writeFile(bin, `#!${BUSYBOX ?? "/bin/sh"} ash\necho 'sixgate: boom' >&2\nexit 78\n`);
      await chmod(bin, 0o755);
      const result = await runHook(script, args, { ...env, SIXGATE_BIN: bin });
      assert.equal(result.code, 0);
      assert.equal(result.stdout + result.stderr, "");
      assert.ok(result.ms < 500, `took ${Math.round(result.ms)} ms`);
    });
  }
});

describe("hooks with the real notify and a real socket", { skip: skipNoBusybox }, () => {
  let bin = "";
  let server: RunningServer | undefined;

  before(async () => {
    if (BUSYBOX === undefined) return;
    const dir = await mkdtemp(join(work, "real-"));
    const bundle = join(dir, "notify.mjs");
    await build({
      entryPoints: [join(import.meta.dirname, "notify-entry.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile: bundle,
      logLevel: "silent",
    });
    bin = join(dir, "sixgate");
    await writeFile(bin, `#!${BUSYBOX} ash\nexec ${process.execPath} ${bundle} "$@"\n`);
    await chmod(bin, 0o755);
    server = await startServer();
  });

  after(async () => {
    await server?.stop();
  });

  const delivered: [string, string[] | undefined, Record<string, string>, HotplugMessage][] = [
    [
      "openwrt-iface",
      undefined,
      { ACTION: "ifup", INTERFACE: "wan", DEVICE: "eth0.2" },
      { kind: "iface", action: "ifup", interface: "wan", device: "eth0.2" },
    ],
    [
      "openwrt-dhcp",
      undefined,
      { ACTION: "add", MACADDR: "02:00:00:00:01:0A", IPADDR: "192.168.1.100", HOSTNAME: "cam" },
      { kind: "dhcp", action: "add", mac: "02:00:00:00:01:0a", ip: "192.168.1.100" },
    ],
    [
      "openwrt-neigh",
      undefined,
      { ACTION: "remove", MACADDR: "02:00:00:00:01:00", IPADDR: "192.168.1.100" },
      { kind: "neigh", action: "remove", mac: "02:00:00:00:01:00", ip: "192.168.1.100" },
    ],
    [
      "dnsmasq-dhcp-script",
      ["old", "02:00:00:00:01:00", "192.168.1.101", "cam"],
      {},
      { kind: "dhcp", action: "old", mac: "02:00:00:00:01:00", ip: "192.168.1.101" },
    ],
    [
      "networkd-dispatcher",
      [],
      { IFACE: "enp1s0", STATE: "off" },
      { kind: "iface", action: "off", interface: "enp1s0" },
    ],
    [
      "nm-dispatcher",
      ["eth0", "down"],
      { DEVICE_IP_IFACE: "eth0" },
      { kind: "iface", action: "down", interface: "eth0", device: "eth0" },
    ],
  ];

  for (const [script, args, env, message] of delivered) {
    test(`${script}: the message arrives at the agent's socket`, async () => {
      assert.ok(server !== undefined);
      const before = server.received.length;
      const fullEnv = { ...env, SIXGATE_BIN: bin, SIXGATE_TEST_RUNTIME_DIR: server.dir };
      const result =
        args === undefined
          ? await hotplugCall(script, fullEnv)
          : await execHook("busybox", script, args, fullEnv);
      assert.equal(result.code, 0);
      assert.ok(result.ms < 1100, `took ${Math.round(result.ms)} ms`);
      const all = await server.messages(before + 1);
      assert.deepEqual(all[before], message);
    });
  }

  test("with the real notify and no agent, every hook exits 0 quickly", async () => {
    const nowhere = await mkdtemp(join(work, "no-agent-"));
    const env = { SIXGATE_BIN: bin, SIXGATE_TEST_RUNTIME_DIR: nowhere };
    for (const [script, args, scriptEnv] of delivered) {
      const result =
        args === undefined
          ? await hotplugCall(script, { ...scriptEnv, ...env })
          : await execHook("busybox", script, args, { ...scriptEnv, ...env });
      assert.equal(result.code, 0, script);
      assert.ok(result.ms < 1100, `${script} took ${Math.round(result.ms)} ms`);
    }
  });
});

test(
  "shellcheck -s sh finds nothing in the hooks",
  { skip: SHELLCHECK === undefined ? "shellcheck missing" : false },
  () => {
    const files = [
      "dnsmasq-dhcp-script",
      "networkd-dispatcher",
      "nm-dispatcher",
      "openwrt-dhcp",
      "openwrt-iface",
      "openwrt-neigh",
    ];
    const output = execFileSync(
      SHELLCHECK ?? "shellcheck",
      ["-s", "sh", ...files.map((f) => join(HOOKS, f))],
      {
        encoding: "utf8",
      },
    );
    assert.equal(output, "");
  },
);
