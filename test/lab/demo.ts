// `npm run demo`: builds the lab, runs the agent, shows an IPv6 client reaching the IPv4-only device
// through the gateway, follows a WAN renumbering (and says how long it took), shows what a dashboard sees
// on MQTT (a Mosquitto in the lab), then cleans up.
// Ctrl-C or a failure cleans up too (the lab's exit and signal handlers).
import { readFile } from "node:fs/promises";
import { LAB_BASE_TOPIC, LAB_MQTT, labRequest, labState, retained, startLabBroker } from "./broker.js";
import { DEFAULT_PORTS, createLab, waitFor, type AgentProcess, type Lab } from "./lab.js";

const NEW_WAN_ADDRESS = "2001:db8:1::10";
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s = "") => process.stdout.write(`${s}\n`);
const heading = (s: string) => {
  say();
  say(bold(`==> ${s}`));
};

async function showCurl(lab: Lab, listen: number, address = lab.wanAddress): Promise<boolean> {
  say(`  $ ip netns exec ${lab.ns.cli} curl -g http://[${address}]:${listen}/cgi-bin/whoami`);
  const r = await lab.curl6(listen, address);
  say(r.ok ? `  ${r.body.trim()}` : `  (no answer: curl exit ${String(r.exitCode)} ${r.stderr.trim()})`);
  return r.ok;
}

async function startAgent(lab: Lab): Promise<AgentProcess> {
  const config = await lab.writeConfig({ mqtt: LAB_MQTT, health: { schedule: "*/5 * * * * *" } });
  heading(`Agent config (${config})`);
  say((await readFile(config, "utf8")).replace(/^/gm, "  ").trimEnd());
  heading(`Starting the agent: ip netns exec ${lab.ns.gw} node dist/sixgate.mjs run --config ...`);
  const agent = lab.startAgent(config);
  const started = Date.now();
  const status = await agent.waitPhase("serving", 20_000);
  say(
    `  serving after ${Date.now() - started} ms (pid ${status.pid}, firewall ${status.firewall.backend ?? "-"})`,
  );
  for (const l of status.listeners) {
    say(
      `  [${status.wan.address ?? "?"}]:${l.listen} -> ${status.device.address ?? "?"}:${l.target}  ${l.state}`,
    );
  }
  return agent;
}

/** Renumbers the WAN and measures the time until a client is served at the new address. */
async function renumber(lab: Lab, agent: AgentProcess): Promise<number> {
  heading(`Renumbering the WAN: add ${NEW_WAN_ADDRESS}, delete ${lab.wanAddress}`);
  const started = performance.now();
  const { old } = await lab.renumberWan(NEW_WAN_ADDRESS);
  await waitFor(async () => (await lab.curl6(80, NEW_WAN_ADDRESS, { connectTimeoutS: 1, maxTimeS: 2 })).ok, {
    timeoutMs: 10_000,
    intervalMs: 5,
    message: () => agent.tail(),
  });
  const ms = Math.round(performance.now() - started);
  say(`  a client was served at the new address ${ms} ms after the renumbering began`);
  for (const { listen } of DEFAULT_PORTS) await showCurl(lab, listen);
  say(`  and the old address no longer answers:`);
  await showCurl(lab, 80, old);
  return ms;
}

/** What a dashboard sees: the retained state, and the answer to a command. */
async function showMqtt(lab: Lab, wanted: string): Promise<void> {
  heading(`What a dashboard sees on MQTT (topics under ${LAB_BASE_TOPIC}/)`);
  say(`  availability: ${(await retained(lab, `${LAB_BASE_TOPIC}/availability`)) ?? "(none)"}`);
  const state = await waitFor(
    async () => {
      const s = await labState(lab);
      return (s?.wan as { address?: string } | undefined)?.address === wanted ? s : undefined;
    },
    { timeoutMs: 10_000 },
  );
  const device = state.device as { address?: string; mac?: string } | undefined;
  const listeners = (state.listeners as { listen: number; state: string }[] | undefined) ?? [];
  say(
    `  state: phase ${String(state.phase)}, WAN ${wanted}, device ${device?.address ?? "?"} (${device?.mac ?? "?"})`,
  );
  say(`         listeners ${listeners.map((l) => `:${l.listen} ${l.state}`).join(", ")}`);
  say(`  $ mosquitto_pub -t ${LAB_BASE_TOPIC}/request -m '{"id":"demo","command":"probe"}'`);
  const reply = await labRequest(lab, "demo", "probe");
  const result = reply.result as {
    ok?: boolean;
    results?: { hop: string; listen: number; ok: boolean; ms: number }[];
  };
  say(`  response ok=${String(reply.ok)}; probes:`);
  for (const r of result.results ?? []) say(`    :${r.listen} ${r.hop} ${r.ok ? "ok" : "FAILED"} ${r.ms} ms`);
}

async function main(): Promise<number> {
  heading("Building the network lab");
  const lab = await createLab();
  try {
    say(`  client  ${lab.ns.cli}: eth0 ${lab.clientAddress}/64 (IPv6 only)`);
    say(`  gateway ${lab.ns.gw}: wan0 ${lab.wanAddress}/64, lan0 ${lab.lanAddress}/24, dnsmasq`);
    say(
      `  device  ${lab.ns.dev}: eth0 ${(await lab.deviceAddress()) ?? "?"} by DHCP (MAC ${lab.deviceMac}), httpd on 80 and 23`,
    );
    await startLabBroker(lab);
    const agent = await startAgent(lab);

    heading("An IPv6 client reaches the IPv4-only device through the gateway");
    let ok = true;
    for (const { listen } of DEFAULT_PORTS) ok = (await showCurl(lab, listen)) && ok;
    say("  (remote= is the address the device saw: the gateway's LAN address, so replies come back)");

    const ms = await renumber(lab, agent);
    await showMqtt(lab, NEW_WAN_ADDRESS);

    heading("Stopping the agent (SIGTERM)");
    agent.stop("SIGTERM");
    const exit = await agent.waitExit(5_000);
    say(
      `  exit code ${String(exit?.code)}; nft tables left: ${(await lab.nftTables()).join(", ") || "none"}`,
    );
    say();
    say(bold(`Demo ${ok ? "done" : "FAILED"}: WAN renumbering served again after ${ms} ms.`));
    return ok && exit?.code === 0 ? 0 : 1;
  } finally {
    heading("Cleaning up the lab");
    await lab.destroy();
    say("  namespaces, processes and files removed");
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
