// The nft watch, end to end: our table changed behind the agent's back (the `flush ruleset` of a Debian-style
// `systemctl reload nftables`, a deleted table, our rule deleted) is back, exactly as applied, within a second. The
// health tick runs once a year here, so it is never what repairs it. Changes to other tables cost nothing, and our
// own writes do not make a repair loop.
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { describe, it, type TestContext } from "node:test";
import type { NftJson } from "../../src/core/render/nft.js";
import { nftObjects } from "../../src/effects/firewall/nft.js";
import { NFT_QUIET_MS } from "../../src/sources/nft-monitor.js";
import { createLabFor, pidAlive, signalPid, sleep, waitFor, type AgentProcess, type Lab } from "./lab.js";

const TEST = { timeout: 90_000 };
/** Once a year (January 1st, 00:00:00): no health tick runs during a test. */
const NO_TICK = { health: { schedule: "0 0 0 1 1 *" } };
const REPAIR_LIMIT_MS = 1_000;
const READ_BACK = "nft -j list table ip sixgate";
const APPLY = "nft -f -";

type LogRecord = Record<string, unknown>;

/** The runner logs each command it ran at debug (the lab config's level), argv included. */
const isCommand = (r: LogRecord, argv: string) =>
  r.msg === "command" && Array.isArray(r.argv) && r.argv.join(" ") === argv;

/** How many times the agent ran this command. */
const ran = (agent: AgentProcess, argv: string) => agent.logs().filter((r) => isCommand(r, argv)).length;

/** True when the agent read its table back after the last log record that `mark` picks. */
function readBackSince(agent: AgentProcess, mark: (r: LogRecord) => boolean): boolean {
  const logs = agent.logs();
  const at = logs.findLastIndex(mark);
  return at >= 0 && logs.slice(at + 1).some((r) => isCommand(r, READ_BACK));
}

/** Our table as `nft -j` lists it, without handles (a re-created table numbers its objects anew); undefined if gone. */
async function ourTable(lab: Lab): Promise<NftJson[] | undefined> {
  const listed = await lab.exec("gw", ["nft", "-j", "list", "table", "ip", "sixgate"]);
  return listed.ok ? nftObjects(listed.stdout) : undefined;
}

const rulesIn = (table: NftJson[] | undefined) =>
  (table ?? []).filter((o) => typeof o === "object" && o !== null && "rule" in o).length;

/** Deletes our one rule by its handle (`nft delete rule ... handle N`), leaving the table and chain. */
async function deleteOurRule(lab: Lab): Promise<void> {
  const listed = await lab.execOk("gw", ["nft", "-j", "list", "chain", "ip", "sixgate", "postrouting"]);
  const parsed = JSON.parse(listed.stdout) as { nftables: { rule?: { handle: number } }[] };
  const handle = parsed.nftables.find((o) => o.rule !== undefined)?.rule?.handle;
  assert.ok(handle !== undefined, `no rule in our chain:\n${listed.stdout}`);
  await lab.execOk("gw", ["nft", "delete", "rule", "ip", "sixgate", "postrouting", "handle", String(handle)]);
}

interface Watching {
  lab: Lab;
  agent: AgentProcess;
  /** Our table as the agent applied it. */
  applied: NftJson[];
}

/**
 * A serving agent whose nft monitor is listening: it has heard the agent's own first write (a read-back logged after
 * the apply). Only then can a change be expected to be seen.
 */
async function startWatching(t: TestContext): Promise<Watching> {
  const lab = await createLabFor(t);
  const agent = lab.startAgent(await lab.writeConfig(NO_TICK));
  await agent.waitPhase("serving", 15_000);
  await waitFor(() => readBackSince(agent, (r) => isCommand(r, APPLY)), {
    timeoutMs: 5_000,
    message: () => `the agent never read its table back after writing it\n${agent.tail()}`,
  });
  const applied = await ourTable(lab);
  assert.ok(
    applied !== undefined && rulesIn(applied) === 1,
    `our table with one rule: ${JSON.stringify(applied)}`,
  );
  return { lab, agent, applied };
}

/**
 * Runs `tamper`, then waits until our table is exactly as applied again (its rule once), written back by exactly one
 * `nft -f -` of the agent. Returns the time from the end of the tampering command to the end of that write, in ms
 * (the runner logs a command when it has finished; the test's own polling is not counted); fails beyond
 * REPAIR_LIMIT_MS.
 */
async function timeRepair(w: Watching, what: string, tamper: () => Promise<unknown>): Promise<number> {
  const writes = ran(w.agent, APPLY);
  await tamper();
  const tampered = Date.now();
  await waitFor(async () => isDeepStrictEqual(await ourTable(w.lab), w.applied), {
    timeoutMs: 5_000,
    intervalMs: 5,
    message: () => `${what}: our table is not back\n${w.agent.tail()}`,
  });
  const seenMs = Date.now() - tampered;
  // It was repaired, not untouched: exactly one write, and the table lists its rule once.
  await waitFor(() => ran(w.agent, APPLY) === writes + 1, {
    timeoutMs: 2_000,
    message: () => `${what}: not one write for the repair\n${w.agent.tail()}`,
  });
  assert.equal(rulesIn(await ourTable(w.lab)), 1, `${what}: our rule once`);
  const write = w.agent.logs().filter((r) => isCommand(r, APPLY))[writes];
  assert.ok(typeof write?.time === "number", `${what}: the repair's write has no time`);
  const ms = write.time - tampered;
  console.log(
    `nft watch: ${what}: table ip sixgate written back ${ms} ms after (the test saw it after ${seenMs} ms)`,
  );
  assert.ok(ms <= REPAIR_LIMIT_MS, `${what}: repaired in ${ms} ms, more than ${REPAIR_LIMIT_MS} ms`);
  return ms;
}

/** The device answers through the listener on :80 (the SNAT rule carries the proxy's IPv4 leg). */
async function assertServes(w: Watching): Promise<void> {
  const r = await w.lab.curl6(80, w.lab.wanAddress, { connectTimeoutS: 1, maxTimeS: 3 });
  assert.ok(r.ok && r.answer?.port === 80, `no answer on :80: ${r.stderr}\n${w.agent.tail()}`);
}

describe("nft watch: our table changed behind our back is repaired within a second", () => {
  it(
    "a stock reload (flush ruleset), a deleted table and a deleted rule: back in under 1 s, rule once; then quiet",
    TEST,
    async (t) => {
      const w = await startWatching(t);
      const { lab, agent } = w;
      // What Debian's /etc/nftables.conf does on `systemctl reload nftables`: flush everything, load its own table.
      const stock =
        "flush ruleset\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t}\n}\n";
      const times = [
        await timeRepair(w, "nft delete table ip sixgate", () =>
          lab.execOk("gw", ["nft", "delete", "table", "ip", "sixgate"]),
        ),
        await timeRepair(w, "nft delete rule (ours)", () => deleteOurRule(lab)),
        await timeRepair(w, "nft flush ruleset", () => lab.execOk("gw", ["nft", "flush", "ruleset"])),
        await timeRepair(w, "nft -f (flush ruleset + table inet filter)", () =>
          lab.execOk("gw", ["nft", "-f", "-"], { input: stock }),
        ),
      ];
      t.diagnostic(`repair times (ms): ${times.join(", ")}`);
      assert.ok(
        (await lab.nftTable("inet", "filter")) !== undefined,
        "the stock reload's own table is left alone",
      );
      await assertServes(w);

      // Our own writes are reported by the monitor too; they must not feed a loop. The last repair's own echo is
      // checked first: after four repairs in a row that check is held back (1 s doubling, agent.ts watchFirewall), so
      // under load it can come a few seconds later. Then two quiet seconds: no reads, no writes.
      await waitFor(() => readBackSince(agent, (r) => isCommand(r, APPLY)), {
        timeoutMs: 35_000,
        message: () => `the agent never checked its last repair\n${agent.tail()}`,
      });
      const reads = ran(agent, READ_BACK);
      const writes = ran(agent, APPLY);
      await sleep(2_000);
      assert.equal(ran(agent, APPLY), writes, `no write while nothing changes\n${agent.tail()}`);
      assert.equal(ran(agent, READ_BACK), reads, `no read-back while nothing changes\n${agent.tail()}`);
      console.log(`nft watch: 2 s of quiet after 4 repairs: 0 reads, 0 writes (${writes} writes in all)`);
    },
  );

  it(
    "another table's changes cause no check; a killed nft monitor is restarted and still watches; stop ends it",
    TEST,
    async (t) => {
      const w = await startWatching(t);
      const { lab, agent } = w;
      const reads = ran(agent, READ_BACK);
      // A table of its own, with a name close to ours, changed in every way.
      await lab.execOk("gw", ["nft", "-f", "-"], {
        input:
          "table inet foreign {\n\tchain c {\n\t\ttype filter hook output priority 0; policy accept;\n\t\tcounter\n\t}\n}\n" +
          "table ip sixgate2 {\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t}\n}\n",
      });
      await lab.execOk("gw", ["nft", "add", "rule", "inet", "foreign", "c", "tcp", "dport", "22", "accept"]);
      await lab.execOk("gw", ["nft", "flush", "chain", "inet", "foreign", "c"]);
      await lab.execOk("gw", ["nft", "delete", "table", "ip", "sixgate2"]);
      await lab.execOk("gw", ["nft", "delete", "table", "inet", "foreign"]);
      // Ten times the watch's quiet period: a check would have started by now.
      await sleep(10 * NFT_QUIET_MS);
      assert.equal(ran(agent, READ_BACK), reads, `a foreign change made the agent check\n${agent.tail()}`);
      // ... while the watch was listening all along: a change of ours is repaired.
      await timeRepair(w, "nft delete rule (ours), after foreign changes", () => deleteOurRule(lab));

      const monitor = await lab.recordedPid("nft-monitor");
      signalPid(monitor, "SIGKILL");
      // The status names it (until the restarted monitor has run a few seconds).
      await waitFor(
        async () => (await agent.status()).problems?.some((p) => p.startsWith("nft -j monitor exited")),
        { timeoutMs: 5_000, message: () => `the status does not name the exit\n${agent.tail()}` },
      );
      const restarted = await waitFor(
        async () => {
          const pid = await lab.recordedPid("nft-monitor").catch(() => undefined);
          return pid !== undefined && pid !== monitor && pidAlive(pid) ? pid : undefined;
        },
        { timeoutMs: 5_000, message: () => `no new nft monitor\n${agent.tail()}` },
      );
      // A (re)started monitor is followed by a check (NFT_QUIET_MS later): by then it listens.
      await waitFor(() => readBackSince(agent, (r) => r.msg === "spawned" && r.pid === restarted), {
        timeoutMs: 5_000,
        message: () => `no check after the monitor restarted\n${agent.tail()}`,
      });
      await timeRepair(w, "nft flush ruleset, after the monitor was restarted", () =>
        lab.execOk("gw", ["nft", "flush", "ruleset"]),
      );
      await assertServes(w);

      agent.stop("SIGTERM");
      assert.ok((await agent.waitExit(5_000)) !== undefined, `the agent did not stop\n${agent.tail()}`);
      assert.equal(pidAlive(restarted), false, "the nft monitor ends with the agent");
    },
  );
});
