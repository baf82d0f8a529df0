// What one hook event costs: the shipped OpenWrt dhcp hook (sourced by busybox ash as hotplug-call does, writing
// with socat through hotplug/notify.sh) against the node path the hooks used before (`sixgate notify` from the
// single-file build), side by side in one run, each delivering to the same real notification server. Wall time
// per event and the peak RSS of its largest process (GNU time's %M). Prints JSON, writes bench/results/hooks.json.
//
//   node --import tsx bench/hook-cost.ts [samples]
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { startServer } from "../test/hotplug/helpers.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SAMPLES = Number(process.argv[2] ?? process.env.BENCH_SAMPLES ?? 8);
const run = promisify(execFile);
const GNU_TIME = "/usr/bin/time";
const BUSYBOX = ["/usr/bin/busybox", "/bin/busybox"].find((p) => existsSync(p)) ?? "busybox";

interface Sample {
  ms: number;
  peakRssKiB: number;
}

/** Runs argv under GNU time; resolves with the wall time seen from here and the peak RSS time reports. */
async function measure(argv: string[], env: NodeJS.ProcessEnv, scratch: string): Promise<Sample> {
  const out = join(scratch, "time.out");
  const started = performance.now();
  await run(GNU_TIME, ["-f", "%M", "-o", out, ...argv], { env, timeout: 20_000 });
  const ms = performance.now() - started;
  return { ms, peakRssKiB: Number(readFileSync(out, "utf8").trim().split("\n").pop()) };
}

function summary(samples: Sample[]) {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
  return {
    n: samples.length,
    medianMs: Math.round(median(samples.map((s) => s.ms)) * 10) / 10,
    maxMs: Math.round(Math.max(...samples.map((s) => s.ms)) * 10) / 10,
    medianPeakRssKiB: median(samples.map((s) => s.peakRssKiB)),
    maxPeakRssKiB: Math.max(...samples.map((s) => s.peakRssKiB)),
  };
}

async function main(): Promise<void> {
  if (!existsSync(GNU_TIME)) throw new Error(`${GNU_TIME} (GNU time) is needed for the peak RSS`);
  const bundle = join(ROOT, "dist/sixgate.mjs");
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run "npm run build" first`);
  const scratch = mkdtempSync(join(tmpdir(), "sixgate-hook-bench-"));
  const server = await startServer(scratch);
  try {
    const config = join(scratch, "config.yaml");
    writeFileSync(
      config,
      [
        "wan: { interface: lo }",
        "lan: { interface: lo, address: 127.0.0.1 }",
        "device: { address: 192.0.2.2 }",
        "ports: [{ listen: 8080, target: 80 }]",
        `runtimeDir: ${scratch}`,
        "",
      ].join("\n"),
    );
    const event = { ACTION: "add", MACADDR: "02:00:00:00:01:00", IPADDR: "192.168.1.100" };
    const hook = join(ROOT, "hotplug/openwrt-dhcp");
    const shipped = {
      argv: [BUSYBOX, "ash", "-c", '( . "$1" )', "hotplug-call", hook],
      env: {
        PATH: process.env.PATH,
        ...event,
        SIXGATE_SOCKET: server.socketPath,
        SIXGATE_NOTIFY_LIB: join(ROOT, "hotplug/notify.sh"),
      },
    };
    const nodePath = {
      argv: [
        process.execPath,
        bundle,
        "notify",
        "--config",
        config,
        "dhcp",
        `action=${event.ACTION}`,
        `mac=${event.MACADDR}`,
        `ip=${event.IPADDR}`,
      ],
      env: { PATH: process.env.PATH },
    };
    const hookSamples: Sample[] = [];
    const nodeSamples: Sample[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      hookSamples.push(await measure(shipped.argv, shipped.env, scratch));
      nodeSamples.push(await measure(nodePath.argv, nodePath.env, scratch));
    }
    const delivered = (await server.messages(2 * SAMPLES, 10_000)).length;
    const results = {
      date: new Date().toISOString(),
      node: process.version,
      delivered,
      hook_socat_openwrt_dhcp: summary(hookSamples),
      sixgate_notify_node: summary(nodeSamples),
    };
    mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
    const text = JSON.stringify(results, null, 2);
    writeFileSync(new URL("./results/hooks.json", import.meta.url), `${text}\n`);
    process.stdout.write(`${text}\nwritten to bench/results/hooks.json\n`);
  } finally {
    await server.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
