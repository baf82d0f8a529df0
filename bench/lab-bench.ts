// Benchmarks in the network lab. Figures are printed and written to bench/results/. Reaction with 2 and 64 ports
// on both backends (renumbering, lease change, link down/up to all served) is bench/reaction.ts. Comparisons are
// measured side by side in one run (same lab, same moment), because these machines are shared and noisy.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { createLab, waitFor, type AgentProcess, type Lab } from "../test/lab/lab.js";

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 8);

interface Stats {
  n: number;
  medianMs: number;
  p90Ms: number;
  p95Ms: number;
  maxMs: number;
}

function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  const ms = (x: number) => Math.round(x * 10) / 10;
  return {
    n: s.length,
    medianMs: ms(at(0.5)),
    p90Ms: ms(at(0.9)),
    p95Ms: ms(at(0.95)),
    maxMs: ms(s[s.length - 1] ?? NaN),
  };
}

/**
 * Time from the address change until a client gets the device's answer on the new address. Each sample starts
 * after a quiet second, so it measures an isolated change, not the coalescing of back-to-back ones.
 */
async function renumberToServe(lab: Lab, index: number): Promise<number> {
  await new Promise((r) => setTimeout(r, 1000));
  const next = `2001:db8:1::${(0x100 + index).toString(16)}`;
  const started = performance.now();
  await lab.renumberWan(next);
  await waitFor(async () => (await lab.curl6(80, next, { connectTimeoutS: 1, maxTimeS: 2 })).answer, {
    timeoutMs: 10_000,
    intervalMs: 10,
  });
  return performance.now() - started;
}

async function serving(agent: AgentProcess): Promise<void> {
  await agent.waitPhase("serving", 15_000);
}

function rssKiB(pid: number): number {
  // VmRSS: the agent's resident memory.
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(text)?.[1] ?? NaN);
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = { date: new Date().toISOString(), samples: SAMPLES };
  const lab = await createLab();
  try {
    // 1. Renumbering, nft and iptables backends side by side.
    for (const firewall of ["nft", "iptables"] as const) {
      const config = await lab.writeConfig({ firewall, debounceMs: 300 }, `bench-${firewall}.yaml`);
      const agent = lab.startAgent(config);
      await serving(agent);
      const samples: number[] = [];
      for (let i = 0; i < SAMPLES; i++)
        samples.push(await renumberToServe(lab, i + (firewall === "nft" ? 0 : 100)));
      results[`renumber_to_serve_${firewall}`] = stats(samples);
      agent.stop("SIGTERM");
      await agent.waitExit(5_000);
    }

    // 2. Device lease change: time until the client's request reaches the new address.
    {
      const config = await lab.writeConfig({}, "bench-lease.yaml");
      const agent = lab.startAgent(config);
      await serving(agent);
      const total: number[] = [];
      const fromLease: number[] = [];
      for (let i = 0; i < Math.min(SAMPLES, 4); i++) {
        const address = `192.168.1.${120 + (i % 2)}`;
        const started = performance.now();
        // Returns once the lease file names the new address; the old address is gone from the device.
        await lab.newDeviceLease(address);
        const leased = performance.now();
        await waitFor(
          async () => (await lab.curl6(80, lab.wanAddress, { connectTimeoutS: 1, maxTimeS: 2 })).answer,
          {
            timeoutMs: 15_000,
            intervalMs: 10,
          },
        );
        const served = performance.now();
        total.push(served - started);
        fromLease.push(served - leased);
      }
      results.lease_change_to_serve_including_dhcp = stats(total);
      results.lease_written_to_serve = stats(fromLease);

      // 3. A burst of address events: reconciles, settle time, memory and fds before and after.
      const pid = agent.pid;
      const before = { rssKiB: rssKiB(pid), fds: agent.fdCount() };
      const reconcilesBefore = agent.logs().filter((l) => l.msg === "reconciled").length;
      const isSnapshot = (l: Record<string, unknown>) =>
        l.msg === "command" && Array.isArray(l.argv) && l.argv[0] === "ip" && l.argv[1] === "-json";
      const snapshotsBefore = agent.logs().filter(isSnapshot).length;
      const started = performance.now();
      const lines: string[] = [];
      for (let i = 0; i < 250; i++) {
        lines.push(`addr add 2001:db8:1::${(0x1000 + i).toString(16)}/64 dev wan0 nodad`);
        lines.push(`addr del 2001:db8:1::${(0x1000 + i).toString(16)}/64 dev wan0`);
      }
      await lab.ipBatch("gw", lines);
      const burstMs = performance.now() - started;
      await waitFor(async () => (await lab.curl6(80)).answer, { timeoutMs: 10_000, intervalMs: 20 });
      await new Promise((r) => setTimeout(r, 1000));
      const reconciles = agent.logs().filter((l) => l.msg === "reconciled").length - reconcilesBefore;
      results.burst_500_address_events = {
        burstMs: Math.round(burstMs),
        snapshots: agent.logs().filter(isSnapshot).length - snapshotsBefore,
        reconciles,
        rssKiBBefore: before.rssKiB,
        rssKiBAfter: rssKiB(pid),
        fdsBefore: before.fds,
        fdsAfter: agent.fdCount(),
      };
      agent.stop("SIGTERM");
      await agent.waitExit(5_000);
    }

    // 4. What a device-hop probe costs: the pinned socat the agent runs against node's unpinned connect.
    {
      const device = await lab.deviceAddress();
      if (device === undefined) throw new Error("no device lease");
      const script = fileURLToPath(new URL("./probe-cost.ts", import.meta.url));
      const r = await lab.execOk(
        "gw",
        [process.execPath, "--import", "tsx", script, device, "192.168.1.1", "lan0", "80", "20"],
        { timeoutMs: 60_000 },
      );
      const { socat, node } = JSON.parse(r.stdout) as { socat: number[]; node: number[] };
      const pinned = stats(socat);
      const plain = stats(node);
      results.device_probe_socat_pinned = pinned;
      results.device_probe_node_unpinned = plain;
      results.ratio_device_probe_socat_over_node_median = Number(
        (pinned.medianMs / Math.max(0.1, plain.medianMs)).toFixed(1),
      );
    }
  } finally {
    await lab.destroy();
  }
  const nft = results.renumber_to_serve_nft as Stats;
  const ipt = results.renumber_to_serve_iptables as Stats;
  results.ratio_iptables_over_nft_median = Number((ipt.medianMs / nft.medianMs).toFixed(2));
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  const text = JSON.stringify(results, null, 2);
  writeFileSync(new URL("./results/latest.json", import.meta.url), text + "\n");
  process.stdout.write(`${text}\nwritten to bench/results/latest.json\n`);
}

await main();
