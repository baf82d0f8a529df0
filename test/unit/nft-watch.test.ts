// The nft watch: which `nft -j monitor` lines concern our table, the source's restarts and bursts, and the agent's
// answer to a hint (one repair, no loop on its own writes, a back-off when the read-back never matches).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Subject } from "rxjs";
import type { SnatRule } from "../../src/core/types.js";
import type { Runner, SpawnOptions, Spawned } from "../../src/effects/exec.js";
import { NFT_QUIET_MS, concernsOurTable, nftTableChanges } from "../../src/sources/nft-monitor.js";
import { FakeFirewall } from "../fakes/adapters.js";
import { recordingLogger } from "../hotplug/helpers.js";
import { setup, sleep, until } from "./agent-harness.js";

// Lines as nft 1.0.6 prints them (`nft -j monitor ruleset`), around a `flush ruleset`.
const OURS = [
  '{"add": {"table": {"family": "ip", "name": "sixgate", "handle": 2}}}',
  '{"delete": {"table": {"family": "ip", "name": "sixgate", "handle": 2}}}',
  '{"add": {"chain": {"family": "ip", "table": "sixgate", "name": "postrouting", "handle": 1, "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}}}',
  '{"delete": {"rule": {"family": "ip", "table": "sixgate", "chain": "postrouting", "handle": 3, "expr": [{"snat": {"addr": "192.168.1.1"}}]}}}',
  '{"delete": {"set": {"family": "ip", "name": "__set0", "table": "sixgate", "type": "invalid", "handle": 2}}}',
];
const FOREIGN = [
  '{"add": {"table": {"family": "inet", "name": "foo", "handle": 4}}}',
  '{"add": {"chain": {"family": "inet", "table": "foo", "name": "c", "handle": 1}}}',
  '{"delete": {"rule": {"family": "inet", "table": "foo", "chain": "c", "handle": 2, "expr": [{"counter": {"packets": 0, "bytes": 0}}]}}}',
  // Our name in another family, and a name that only begins like ours.
  '{"add": {"table": {"family": "inet", "name": "sixgate", "handle": 5}}}',
  '{"delete": {"chain": {"family": "ip6", "table": "sixgate", "name": "postrouting", "handle": 1}}}',
  '{"add": {"table": {"family": "ip", "name": "sixgate2", "handle": 6}}}',
];

describe("concernsOurTable", () => {
  it("is true for every object of table ip sixgate", () => {
    for (const line of OURS) assert.equal(concernsOurTable(line), true, line);
  });
  it("is false for other tables, our name in another family included", () => {
    for (const line of FOREIGN) assert.equal(concernsOurTable(line), false, line);
  });
  it("is true for a line it cannot read (a check costs one read; a missed change a health tick)", () => {
    for (const line of ["", "not json", "[]", "null", '{"add": 1}', '{"add": {"table": 1}}', "{}"])
      assert.equal(concernsOurTable(line), true, line);
  });
});

/** A runner whose only use is spawning monitors the test drives: lines in, exits on demand. */
function monitorRunner() {
  const children: {
    argv: readonly string[];
    print: (line: string) => void;
    exit: () => void;
    killed: boolean;
  }[] = [];
  const runner: Runner = {
    run: () => Promise.reject(new Error("the nft watch runs no commands")),
    spawn(argv: readonly string[], options: SpawnOptions = {}): Spawned {
      let exit: () => void = () => undefined;
      const exited = new Promise<{ exitCode: number | undefined; signal: string | undefined }>((resolve) => {
        exit = () => resolve({ exitCode: 1, signal: undefined });
      });
      const child = {
        argv,
        print: (line: string) => options.onStdoutLine?.(line),
        exit,
        killed: false,
      };
      children.push(child);
      return { pid: 4000 + children.length, exited, kill: () => (child.killed = true) };
    },
  };
  const child = (i: number) => {
    const c = children[i];
    assert.ok(c !== undefined, `monitor ${i} was spawned`);
    return c;
  };
  return { runner, children, child };
}

describe("nftTableChanges", () => {
  it("hints once per start and per burst about our table, never for another table; restarts a monitor that exits", async () => {
    const { runner, children, child } = monitorRunner();
    const { log } = recordingLogger();
    let hints = 0;
    const subscription = nftTableChanges(runner, log).subscribe(() => hints++);
    assert.deepEqual(child(0).argv, ["nft", "-j", "monitor", "ruleset"]);
    await until(() => hints === 1, "a hint for the monitor's start");

    for (const line of FOREIGN) child(0).print(line);
    await sleep(4 * NFT_QUIET_MS);
    assert.equal(hints, 1, "another table's changes: no hint");

    for (const line of OURS) child(0).print(line);
    await until(() => hints === 2, "a hint for a burst about our table");
    await sleep(4 * NFT_QUIET_MS);
    assert.equal(hints, 2, "one hint for the whole burst");

    child(0).exit();
    await until(() => children.length === 2, "a new monitor after the first exited", 3000);
    await until(() => hints === 3, "a hint for the restart (what happened meanwhile is unseen)");

    subscription.unsubscribe();
    assert.equal(child(1).killed, true, "unsubscribing stops the monitor");
  });
});

/** A fake nft whose own writes are reported back, as `nft monitor` reports them, and which counts read-backs. */
class EchoingFirewall extends FakeFirewall {
  readonly changes = new Subject<void>();
  readBacks = 0;
  neverMatches = false;
  override async apply(rules: readonly SnatRule[]): Promise<void> {
    await super.apply(rules);
    setTimeout(() => this.changes.next(), 1);
  }
  override matches(rules: readonly SnatRule[]): Promise<boolean> {
    this.readBacks++;
    return this.neverMatches ? Promise.resolve(false) : super.matches(rules);
  }
}

const applies = (firewall: FakeFirewall) => firewall.calls.filter((c) => c === "apply").length;

describe("the agent's answer to a firewall hint", () => {
  it("repairs rules removed behind its back once; the echo of its own write changes nothing", async () => {
    const firewall = new EchoingFirewall();
    const { agent, healthy } = setup({ firewall, firewallChanges: firewall.changes });
    healthy();
    await until(() => agent.status().phase === "serving", "serving");
    await until(() => firewall.readBacks >= 1, "the echo of the first write read back");

    firewall.tamper();
    firewall.changes.next();
    await until(() => firewall.rule !== null, "rules repaired");
    await sleep(300);
    assert.equal(applies(firewall), 2, "the first write and one repair");
    const reads = firewall.readBacks;
    await sleep(300);
    assert.equal(firewall.readBacks, reads, "quiet: no more read-backs");
    assert.equal(agent.status().phase, "serving");

    await agent.stop();
    const stopped = firewall.readBacks;
    firewall.changes.next();
    await sleep(50);
    assert.equal(firewall.readBacks, stopped, "no check after stop");
  });

  it("backs off when each repair is followed by drift again (a read-back that never matches)", async () => {
    const firewall = new EchoingFirewall();
    firewall.neverMatches = true;
    const { agent, healthy } = setup({ firewall, firewallChanges: firewall.changes });
    healthy();
    await until(() => applies(firewall) >= 3, "repairs after the first write");
    // Without a back-off this is a tight loop of thousands; with it: the write, two repairs at once, then 1 s, 2 s.
    await sleep(2500);
    const count = applies(firewall);
    assert.ok(count >= 4 && count <= 6, `writes in 2.5 s: ${count}`);
    await agent.stop();
  });
});
