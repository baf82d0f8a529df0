// The firewall adapters against the real nft and iptables, each test in a bare network namespace of its own (the
// rules only name interfaces, so none need exist). Asserts what an operator reads back: each port exactly once, one
// jump, exact read-back.
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import { pino } from "pino";
import type { SnatRule } from "../../src/core/types.js";
import { createRunner, type Runner } from "../../src/effects/exec.js";
import type { Firewall } from "../../src/effects/firewall/firewall.js";
import { createIptablesFirewall } from "../../src/effects/firewall/iptables.js";
import { createNftFirewall } from "../../src/effects/firewall/nft.js";
import { randomId, runOk } from "./util.js";

const TEST = { timeout: 30_000 };
const log = pino({ level: "silent" });

interface Netns {
  name: string;
  /** The project's runner, with every command run inside the namespace. */
  runner: Runner;
  exec(argv: readonly string[], input?: string): Promise<string>;
}

async function netnsFor(t: TestContext): Promise<Netns> {
  const name = `sgfw${randomId()}`;
  await runOk(["ip", "netns", "add", name]);
  t.after(() => runOk(["ip", "netns", "del", name]).then(() => undefined));
  const inner = createRunner(log, 10_000);
  const runner: Runner = {
    run: (argv, options) => inner.run(["ip", "netns", "exec", name, ...argv], options),
    spawn: (argv, options) => inner.spawn(["ip", "netns", "exec", name, ...argv], options),
  };
  return {
    name,
    runner,
    exec: async (argv, input) => (await runOk(["ip", "netns", "exec", name, ...argv], { input })).stdout,
  };
}

const ports = (n: number) => Array.from({ length: n }, (_, i) => 8000 + i);
const rule = (n: number, over: Partial<SnatRule> = {}): SnatRule => ({
  device: "device",
  lanInterface: "lan0",
  lanAddress: "192.168.1.1",
  deviceAddress: "192.168.1.100",
  ports: ports(n),
  ...over,
});

const JUMP = "-A POSTROUTING -j SIXGATE-POSTROUTING";
const jumps = (saved: string) => saved.split("\n").filter((l) => l === JUMP).length;

/** Every port our iptables chain names, in chain order. */
function iptablesPorts(saved: string): number[] {
  return saved
    .split("\n")
    .filter((l) => l.startsWith("-A SIXGATE-POSTROUTING "))
    .flatMap((l) => (/--dports (\S+)/.exec(l)?.[1] ?? "").split(",").map(Number));
}

/** Every port our nft table's rule names (`nft -j`: a single value or an anonymous set). */
async function nftPorts(ns: Netns): Promise<number[]> {
  const listed = JSON.parse(await ns.exec(["nft", "-j", "list", "table", "ip", "sixgate"])) as {
    nftables: { rule?: { expr: { match?: { left: { payload?: { field: string } }; right: unknown } }[] } }[];
  };
  return listed.nftables.flatMap((o) =>
    (o.rule?.expr ?? []).flatMap((e) => {
      if (e.match?.left.payload?.field !== "dport") return [];
      const right = e.match.right;
      return typeof right === "number" ? [right] : (right as { set: number[] }).set;
    }),
  );
}

const backends: [string, (r: Runner) => Firewall, (ns: Netns) => Promise<number[]>][] = [
  [
    "iptables",
    createIptablesFirewall,
    async (ns) => iptablesPorts(await ns.exec(["iptables-save", "-t", "nat"])),
  ],
  ["nft", createNftFirewall, nftPorts],
];

for (const [name, create, portsOf] of backends) {
  describe(`firewall ${name}: real rules in a namespace`, () => {
    for (const n of [16, 64]) {
      it(`${n} target ports: applied, each port exactly once, read back as matching`, TEST, async (t) => {
        const ns = await netnsFor(t);
        const fw = create(ns.runner);
        await fw.apply([rule(n)]);
        assert.deepEqual(await portsOf(ns), ports(n));
        assert.equal(await fw.matches([rule(n)]), true);
        assert.equal(await fw.matches([rule(n - 1)]), false, "one port fewer is a difference");
        await fw.apply([rule(n)]); // again: still once
        assert.deepEqual(await portsOf(ns), ports(n));
        await fw.remove();
        assert.equal(await fw.matches([]), true);
      });
    }

    it(
      "read-back is exact: a port list's prefix or an interface's prefix is a difference",
      TEST,
      async (t) => {
        const ns = await netnsFor(t);
        const fw = create(ns.runner);
        await fw.apply([rule(2, { ports: [80, 443] })]);
        assert.equal(await fw.matches([rule(1, { ports: [80] })]), false, "80 is not 80,443");
        await fw.apply([rule(1, { ports: [80], lanInterface: "lan0.1" })]);
        assert.equal(await fw.matches([rule(1, { ports: [80] })]), false, "lan0 is not lan0.1");
        assert.equal(await fw.matches([rule(1, { ports: [80], lanInterface: "lan0.1" })]), true);
        assert.equal(await fw.matches([]), false);
      },
    );
  });
}

describe("firewall iptables: our jump from POSTROUTING", () => {
  it(
    "a duplicate jump is repaired by apply (exactly one left) and all are gone after remove",
    TEST,
    async (t) => {
      const ns = await netnsFor(t);
      const fw = createIptablesFirewall(ns.runner);
      await fw.apply([rule(2)]);
      await ns.exec(["iptables", "-t", "nat", "-A", "POSTROUTING", "-j", "SIXGATE-POSTROUTING"]);
      await ns.exec(["iptables", "-t", "nat", "-A", "POSTROUTING", "-j", "SIXGATE-POSTROUTING"]);
      assert.equal(jumps(await ns.exec(["iptables-save", "-t", "nat"])), 3);
      assert.equal(await fw.matches([rule(2)]), false, "three jumps are drift");
      await fw.apply([rule(2)]);
      assert.equal(jumps(await ns.exec(["iptables-save", "-t", "nat"])), 1);
      assert.equal(await fw.matches([rule(2)]), true, "repaired: the next read-back matches");
      await ns.exec(["iptables", "-t", "nat", "-A", "POSTROUTING", "-j", "SIXGATE-POSTROUTING"]);
      await fw.remove();
      assert.doesNotMatch(await ns.exec(["iptables-save", "-t", "nat"]), /SIXGATE/);
    },
  );
});

describe("firewall nft: anything else in our table is drift", () => {
  it("an extra rule makes matches false, and apply restores exactly ours", TEST, async (t) => {
    const ns = await netnsFor(t);
    const fw = createNftFirewall(ns.runner);
    await fw.apply([rule(2)]);
    await ns.exec(["nft", "add", "rule", "ip", "sixgate", "postrouting", "counter"]);
    assert.equal(await fw.matches([rule(2)]), false);
    await fw.apply([rule(2)]);
    assert.equal(await fw.matches([rule(2)]), true);
  });
});
