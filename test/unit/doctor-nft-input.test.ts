// The host firewall's input verdict for a listen port, from `nft list ruleset` text: a table of rulesets.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { displayRule, inputVerdict, type InputPacket } from "../../src/doctor/nft-input.js";
import { parseNftRuleset } from "../../src/doctor/parse/nft-ruleset.js";

const PACKET: InputPacket = { wanInterface: "wan", wanAddress: "2001:db8:1::1", port: 80 };

const verdict = (ruleset: string, packet: Partial<InputPacket> = {}) =>
  inputVerdict(parseNftRuleset(ruleset), { ...PACKET, ...packet });

/** An OpenWrt fw4 ruleset, cut to the input path; `extra` goes into input_wan before the final reject. */
const fw4 = (extra = "") => `table inet fw4 {
	chain input {
		type filter hook input priority filter; policy drop;
		iifname "lo" accept comment "!fw4: Accept traffic from loopback"
		ct state established,related accept comment "!fw4: Allow inbound established and related flows"
		tcp flags syn / fin,syn,rst,ack jump syn_flood comment "!fw4: Rate limit TCP syn packets"
		iifname "br-lan" jump input_lan comment "!fw4: Handle lan IPv4/IPv6 input traffic"
		iifname "wan" jump input_wan comment "!fw4: Handle wan IPv4/IPv6 input traffic"
		jump handle_reject
	}

	chain syn_flood {
		limit rate 25/second burst 50 packets return comment "!fw4: Accept SYN packets below rate-limit"
		drop comment "!fw4: Drop excess packets"
	}

	chain input_lan {
		jump accept_from_lan
	}

	chain input_wan {
		meta nfproto ipv4 udp dport 68 counter packets 0 bytes 0 accept comment "!fw4: Allow-DHCP-Renew"
		icmp type echo-request counter packets 0 bytes 0 accept comment "!fw4: Allow-Ping"
		meta nfproto ipv6 udp dport 546 counter packets 0 bytes 0 accept comment "!fw4: Allow-DHCPv6"
		ip6 saddr fe80::/10 icmpv6 type . icmpv6 code { mld-listener-query . no-route, mld-listener-report . no-route } counter packets 0 bytes 0 accept comment "!fw4: Allow-MLD"
		meta l4proto ipv6-icmp icmpv6 type { destination-unreachable, time-exceeded } limit rate 1000/second counter packets 0 bytes 0 accept comment "!fw4: Allow-ICMPv6-Input"
		ct status dnat accept comment "!fw4: Accept port redirections"
${extra}
		jump reject_from_wan
	}

	chain accept_from_lan {
		iifname "br-lan" counter packets 0 bytes 0 accept comment "!fw4: accept lan IPv4/IPv6 traffic"
	}

	chain reject_from_wan {
		iifname "wan" counter packets 3 bytes 180 jump handle_reject comment "!fw4: reject wan IPv4/IPv6 traffic"
	}

	chain handle_reject {
		meta l4proto tcp reject with tcp reset comment "!fw4: Reject TCP traffic"
		reject comment "!fw4: Reject any other traffic"
	}
}`;

// iptables-nft's translation of `ip6tables -P INPUT DROP; -A INPUT -i lo -j ACCEPT; -A INPUT -p tcp --dport 22 -j ACCEPT`.
const IP6TABLES_NFT = `table ip6 filter {
	chain INPUT {
		type filter hook input priority filter; policy drop;
		iifname "lo" counter packets 0 bytes 0 accept
		ct state related,established counter packets 10 bytes 800 accept
		meta l4proto tcp tcp dport 22 counter packets 0 bytes 0 accept
	}
}`;

describe("host firewall input verdict", () => {
  test("no input chain at all: accepted", () => {
    assert.equal(verdict("").verdict, "accept");
    const onlyNat =
      "table ip sixgate {\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n\t}\n}";
    assert.match(verdict(onlyNat).why, /no IPv6 input filter chain/);
  });

  test("an IPv4-only table does not see IPv6 traffic", () => {
    const v4 =
      "table ip filter {\n\tchain INPUT {\n\t\ttype filter hook input priority filter; policy drop;\n\t}\n}";
    assert.equal(verdict(v4).verdict, "accept");
  });

  test("OpenWrt fw4 without a rule for the port: rejected, and says by which rule", () => {
    const v = verdict(fw4());
    assert.equal(v.verdict, "drop");
    assert.equal(v.why, 'rejected by "meta l4proto tcp reject with tcp reset" in inet fw4 handle_reject');
  });

  test("fw4 with a traffic rule for the port: accepted", () => {
    const rule =
      '\t\tmeta nfproto ipv6 tcp dport { 80, 2323 } counter packets 0 bytes 0 accept comment "!fw4: sixgate"';
    assert.equal(verdict(fw4(rule)).verdict, "accept");
    assert.equal(verdict(fw4(rule), { port: 2323 }).verdict, "accept");
    assert.equal(verdict(fw4(rule), { port: 8080 }).verdict, "drop");
    assert.equal(verdict(fw4(rule), { wanInterface: "pppoe-wan" }).verdict, "drop", "another WAN device");
  });

  test("fw4 with a rule for IPv4 only: still rejected", () => {
    const rule =
      '\t\tmeta nfproto ipv4 tcp dport 80 counter packets 0 bytes 0 accept comment "!fw4: v4 only"';
    assert.equal(verdict(fw4(rule)).verdict, "drop");
  });

  test("iptables-nft translation: policy drop with no accept for the port", () => {
    const v = verdict(IP6TABLES_NFT);
    assert.equal(v.verdict, "drop");
    assert.match(v.why, /policy of ip6 filter INPUT/);
    assert.equal(verdict(IP6TABLES_NFT, { port: 22 }).verdict, "accept");
  });

  test("port ranges, comparisons, negation, service names", () => {
    const chain = (rule: string) =>
      `table inet f {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t\t${rule}\n\t}\n}`;
    const table: [string, number, string][] = [
      ["tcp dport 1-1024 accept", 80, "accept"],
      ["tcp dport 1-1024 accept", 2323, "drop"],
      ["tcp dport >= 1024 accept", 2323, "accept"],
      ["tcp dport != 22 accept", 80, "accept"],
      ["tcp dport != { 22, 80 } accept", 80, "drop"],
      ["tcp dport http accept", 80, "accept"],
      ["th dport 80 accept", 80, "accept"],
      ["udp dport 80 accept", 80, "drop"],
      ['iifname "wa*" tcp dport 80 accept', 80, "accept"],
      ['iifname { "lan", "wan" } accept', 80, "accept"],
      ["ip6 daddr 2001:db8:1::/64 tcp dport 80 accept", 80, "accept"],
      ["ip6 daddr 2001:db8:2::/64 tcp dport 80 accept", 80, "drop"],
      ["ip saddr 10.0.0.0/8 accept", 80, "drop"],
      ["fib daddr type local tcp dport 80 accept", 80, "accept"],
      ['ct state new tcp dport 80 log prefix "in: " accept', 80, "accept"],
      ["tcp dport @allowed_ports accept", 80, "unknown"],
      ["ip6 saddr 2001:db8:9::/48 tcp dport 80 accept", 80, "unknown"],
      ["tcp dport 80 queue", 80, "unknown"],
      ["limit rate over 10/second accept", 80, "drop"],
    ];
    for (const [rule, port, want] of table) {
      assert.equal(verdict(chain(rule), { port }).verdict, want, `${rule} for tcp/${port}`);
    }
  });

  test("a maybe-match whose both paths agree is no uncertainty", () => {
    const ruleset = `table inet f {
	chain input {
		type filter hook input priority 0; policy accept;
		ip6 saddr @blocked drop
		tcp dport 80 accept
	}
}`;
    // Blocked clients are dropped, others accepted: the answer depends on the client.
    const v = verdict(ruleset);
    assert.equal(v.verdict, "unknown");
    assert.match(v.why, /ip6 saddr @blocked drop/);
    const agree = ruleset.replace("ip6 saddr @blocked drop", "ip6 saddr @trusted counter");
    assert.equal(verdict(agree).verdict, "accept");
  });

  test("jump comes back, goto does not, return leaves the chain", () => {
    const ruleset = (how: string) => `table inet f {
	chain input {
		type filter hook input priority 0; policy drop;
		${how} sub
		tcp dport 80 accept
	}
	chain sub {
		tcp dport 22 accept
		return
	}
}`;
    assert.equal(verdict(ruleset("jump")).verdict, "accept");
    assert.equal(
      verdict(ruleset("goto")).verdict,
      "drop",
      "goto's return ends the base chain: the policy decides",
    );
    const missing = ruleset("jump").replace("chain sub", "chain other");
    assert.equal(verdict(missing).verdict, "unknown");
  });

  test("every input base chain must accept: a drop in any of them is final", () => {
    const both = `${fw4("\t\ttcp dport 80 accept")}\n${IP6TABLES_NFT}`;
    assert.equal(verdict(both).verdict, "drop");
    assert.match(verdict(both).why, /ip6 filter INPUT/);
  });

  test("a jump loop is reported as unknown, not a hang", () => {
    const loop = `table inet f {
	chain input {
		type filter hook input priority 0; policy drop;
		jump a
	}
	chain a {
		jump input
	}
}`;
    assert.equal(verdict(loop).verdict, "unknown");
  });

  test("rules are shown without counters' numbers and comments", () => {
    assert.equal(
      displayRule('iifname "wan" counter packets 3 bytes 180 jump handle_reject comment "!fw4: reject"'),
      'iifname "wan" counter jump handle_reject',
    );
  });
});
