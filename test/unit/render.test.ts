import { test } from "node:test";
import assert from "node:assert/strict";
import { renderNftScript } from "../../src/core/render/nft.js";
import {
  MULTIPORT_MAX,
  renderIptablesRemove,
  renderIptablesRestore,
  renderIptablesRules,
} from "../../src/core/render/iptables.js";
import { renderKeepalive, renderProbeArgv, renderSocatArgv } from "../../src/core/render/socat.js";
import type { SnatRule } from "../../src/core/types.js";
import { listenerSpec } from "./fixtures.js";

const rule: SnatRule = {
  device: "device",
  lanInterface: "lan0",
  lanAddress: "192.168.1.1",
  deviceAddress: "192.168.1.100",
  ports: [23, 80],
};

test("nft: one transaction that creates, deletes and recreates only our table", () => {
  assert.equal(
    renderNftScript([rule]),
    `table ip sixgate {}
delete table ip sixgate
table ip sixgate {
\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname "lan0" ip saddr 192.168.1.1 ip daddr 192.168.1.100 tcp dport { 23, 80 } snat to 192.168.1.1
\t}
}
`,
  );
  assert.match(renderNftScript([{ ...rule, ports: [80] }]), /tcp dport 80 snat/);
  assert.equal(renderNftScript([]), "table ip sixgate {}\ndelete table ip sixgate\n");
});

test("iptables: our chain, the jump only when missing, removal of both", () => {
  assert.equal(
    renderIptablesRestore([rule], 0),
    `*nat
:SIXGATE-POSTROUTING - [0:0]
-A POSTROUTING -j SIXGATE-POSTROUTING
-A SIXGATE-POSTROUTING -s 192.168.1.1/32 -d 192.168.1.100/32 -o lan0 -p tcp -m multiport --dports 23,80 -j SNAT --to-source 192.168.1.1
COMMIT
`,
  );
  assert.ok(!renderIptablesRestore([rule], 1).includes("POSTROUTING -j"));
  assert.equal(
    renderIptablesRemove(1),
    "*nat\n-D POSTROUTING -j SIXGATE-POSTROUTING\n-F SIXGATE-POSTROUTING\n-X SIXGATE-POSTROUTING\nCOMMIT\n",
  );
});

test("iptables: duplicate jumps are deleted down to one, and all of them on removal", () => {
  const text = renderIptablesRestore([rule], 3);
  assert.equal(text.match(/^-D POSTROUTING -j SIXGATE-POSTROUTING$/gm)?.length, 2);
  assert.ok(!text.includes("-A POSTROUTING"));
  assert.equal(renderIptablesRemove(3).match(/^-D POSTROUTING/gm)?.length, 3);
  assert.ok(!renderIptablesRemove(0).includes("-D POSTROUTING"));
});

test("iptables: at most 15 ports per multiport rule (xt_multiport's limit)", () => {
  const ports = Array.from({ length: 64 }, (_, i) => 1000 + i);
  const lines = renderIptablesRules([{ ...rule, ports }]);
  assert.equal(lines.length, 5);
  const listed = lines.map((l) => (/--dports (\S+)/.exec(l)?.[1] ?? "").split(",").map(Number));
  assert.ok(listed.every((p) => p.length <= MULTIPORT_MAX));
  assert.deepEqual(listed.flat(), ports, "every port exactly once, in order");
  assert.equal(renderIptablesRules([{ ...rule, ports: ports.slice(0, 15) }]).length, 1);
  assert.equal(renderIptablesRules([{ ...rule, ports: ports.slice(0, 16) }]).length, 2);
});

const LISTENER = listenerSpec({ listen: 2323, target: 23 });

test("socat: IPv6 listener on the WAN address, IPv4 leg bound to the LAN address and interface", () => {
  assert.deepEqual(renderSocatArgv(LISTENER), [
    "socat",
    "-t",
    "30",
    "TCP6-LISTEN:2323,bind=[2001:db8:1::1],ipv6only=1,fork,reuseaddr,max-children=64,backlog=32," +
      "keepalive,keepidle=120,keepintvl=30,keepcnt=4",
    "TCP4:192.168.1.100:23,bind=192.168.1.1,so-bindtodevice=lan0,connect-timeout=5," +
      "keepalive,keepidle=120,keepintvl=30,keepcnt=4",
  ]);
});

test("socat: keepalive off, an idle timeout; a short keepalive still probes at least a second apart", () => {
  const argv = renderSocatArgv({ ...LISTENER, keepaliveSec: 0, idleTimeoutSec: 600 });
  assert.deepEqual(argv.slice(0, 5), ["socat", "-t", "30", "-T", "600"]);
  assert.ok(argv.every((a) => !a.includes("keep")));
  assert.deepEqual(renderKeepalive(2), ["keepalive", "keepidle=2", "keepintvl=1", "keepcnt=4"]);
});

test("socat: the wait after a half-close is the configured one, fractions included", () => {
  const argv = renderSocatArgv({ ...LISTENER, halfCloseSec: 2.5 });
  assert.equal(argv[argv.indexOf("-t") + 1], "2.5");
  assert.equal(argv.filter((a) => a === "-t").length, 1);
});

test("socat probe argv: the listener's own IPv4 leg, one connect that sends nothing", () => {
  const leg = {
    deviceAddress: "192.168.1.100",
    target: 23,
    lanAddress: "192.168.1.1",
    lanInterface: "lan0",
    connectTimeoutSec: 1.5,
  };
  assert.deepEqual(renderProbeArgv(leg), [
    "socat",
    "-u",
    "OPEN:/dev/null",
    "TCP4:192.168.1.100:23,bind=192.168.1.1,so-bindtodevice=lan0,connect-timeout=1.5",
  ]);
  const listener = renderSocatArgv({ ...LISTENER, ...leg });
  // Keepalive is all the listener adds: it matters to long connections, not to a connect that ends at once.
  assert.ok(
    listener.at(-1)?.startsWith(`${renderProbeArgv(leg).at(-1)},keepalive,`),
    "the probe connects exactly as the listener does",
  );
});
