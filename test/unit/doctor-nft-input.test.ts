// The host firewall's input verdict for a listen port, from real `nft -j list ruleset` output (fixtures/nft/).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { inputVerdict, type InputPacket } from "../../src/doctor/nft-input.js";
import type { NftChain } from "../../src/doctor/parse/nft-ruleset.js";
import { nftFixture } from "./nft-fixtures.js";

const PACKET: InputPacket = { wanInterface: "wan", wanAddress: "2001:db8:1::1", port: 80 };

const verdict = (chains: readonly NftChain[], packet: Partial<InputPacket> = {}) =>
  inputVerdict(chains, { ...PACKET, ...packet });

describe("host firewall input verdict", () => {
  test("no input chain at all: accepted", () => {
    assert.equal(verdict([]).verdict, "accept");
    assert.match(verdict(nftFixture("parse", "sixgate")).why, /no IPv6 input filter chain/);
  });

  test("an IPv4-only table does not see IPv6 traffic", () => {
    const v4 = nftFixture("ip6tables-nft").map((c) => ({ ...c, family: "ip" }));
    assert.equal(verdict(v4).verdict, "accept");
  });

  test("OpenWrt fw4 without a rule for the port: rejected, and says by which rule", () => {
    const v = verdict(nftFixture("fw4"));
    assert.equal(v.verdict, "drop");
    assert.equal(v.why, 'rejected by "meta l4proto tcp reject with tcp reset" in inet fw4 handle_reject');
  });

  test("fw4 with a traffic rule for the port: accepted", () => {
    const fw4 = nftFixture("fw4-sixgate");
    assert.equal(verdict(fw4).verdict, "accept");
    assert.match(
      verdict(fw4).why,
      /accepted by "meta nfproto ipv6 tcp dport \{ 80, 2323 \} counter accept" in inet fw4 input_wan/,
    );
    assert.equal(verdict(fw4, { port: 2323 }).verdict, "accept");
    assert.equal(verdict(fw4, { port: 8080 }).verdict, "drop");
    assert.equal(verdict(fw4, { wanInterface: "pppoe-wan" }).verdict, "drop", "another WAN device");
  });

  test("fw4 with a rule for IPv4 only: still rejected", () => {
    assert.equal(verdict(nftFixture("fw4-ipv4-only")).verdict, "drop");
  });

  test("iptables-nft translation: policy drop with no accept for the port", () => {
    const ip6tables = nftFixture("ip6tables-nft");
    const v = verdict(ip6tables);
    assert.equal(v.verdict, "drop");
    assert.match(v.why, /policy of ip6 filter INPUT/);
    assert.equal(verdict(ip6tables, { port: 22 }).verdict, "accept");
  });

  test("an iptables-nft extension (-m conntrack) nft -j cannot show inside: unknown, naming it", () => {
    const v = verdict(nftFixture("ip6tables-nft-conntrack"));
    assert.equal(v.verdict, "unknown");
    assert.match(v.why, /"xt match "conntrack" counter accept" in ip6 filter INPUT/);
  });

  test("port ranges, comparisons, negation, service names", () => {
    // fixtures/nft/cases.nft: table inet case_<name>, an input chain with policy drop and the one rule.
    const table: [string, string, number, string][] = [
      ["range", "tcp dport 1-1024 accept", 80, "accept"],
      ["range", "tcp dport 1-1024 accept", 2323, "drop"],
      ["ge", "tcp dport >= 1024 accept", 2323, "accept"],
      ["ge", "tcp dport >= 1024 accept", 80, "drop"],
      ["ne", "tcp dport != 22 accept", 80, "accept"],
      ["ne_set", "tcp dport != { 22, 80 } accept", 80, "drop"],
      ["service", "tcp dport 80 accept", 80, "accept"],
      ["th", "th dport 80 accept", 80, "accept"],
      ["udp", "udp dport 80 accept", 80, "drop"],
      ["wildcard", 'iifname "wa*" tcp dport 80 accept', 80, "accept"],
      ["iface_set", 'iifname { "lan", "wan" } accept', 80, "accept"],
      ["daddr", "ip6 daddr 2001:db8:1::/64 tcp dport 80 accept", 80, "accept"],
      ["other_daddr", "ip6 daddr 2001:db8:2::/64 tcp dport 80 accept", 80, "drop"],
      ["ipv4", "ip saddr 10.0.0.0/8 accept", 80, "drop"],
      ["fib", "fib daddr type local tcp dport 80 accept", 80, "accept"],
      ["log", 'ct state new tcp dport 80 log prefix "in: " accept', 80, "accept"],
      ["named_set", "tcp dport @allowed_ports accept", 80, "unknown"],
      ["saddr", "ip6 saddr 2001:db8:9::/48 tcp dport 80 accept", 80, "unknown"],
      ["limit_over", "limit rate over 10/second accept", 80, "drop"],
    ];
    for (const [name, rule, port, want] of table) {
      const chains = nftFixture("cases", `case_${name}`);
      assert.equal(chains[0]?.rules.length, 1, name);
      const v = verdict(chains, { port });
      assert.equal(v.verdict, want, `${rule} for tcp/${port}: ${v.why}`);
      if (want !== "drop") assert.ok(v.why.includes(`"${rule}"`), `${name} is shown as ${v.why}`);
    }
    // nft hands a packet to a queue only where a program listens (it cannot be loaded here without one).
    const queue: NftChain = { ...(nftFixture("cases", "case_th")[0] as NftChain) };
    queue.rules = [{ expr: [{ queue: { num: 0 } }] }];
    assert.equal(verdict([queue]).verdict, "unknown");
  });

  test("a maybe-match whose both paths agree is no uncertainty", () => {
    // Blocked clients are dropped, others accepted: the answer depends on the client.
    const v = verdict(nftFixture("walks", "walk_maybe"));
    assert.equal(v.verdict, "unknown");
    assert.match(v.why, /"ip6 saddr @blocked drop" in inet walk_maybe input/);
    assert.equal(verdict(nftFixture("walks", "walk_agree")).verdict, "accept", "ip6 saddr @trusted counter");
  });

  test("jump comes back, goto does not, return leaves the chain", () => {
    assert.equal(verdict(nftFixture("walks", "walk_jump")).verdict, "accept");
    assert.equal(
      verdict(nftFixture("walks", "walk_goto")).verdict,
      "drop",
      "goto's return ends the base chain: the policy decides",
    );
    const missing = nftFixture("walks", "walk_jump").filter((c) => c.name !== "sub");
    assert.equal(verdict(missing).verdict, "unknown");
  });

  test("every input base chain must accept: a drop in any of them is final", () => {
    const port80 = nftFixture("fw4-port80");
    assert.equal(verdict(port80).verdict, "accept");
    const both = [...port80, ...nftFixture("ip6tables-nft")];
    assert.equal(verdict(both).verdict, "drop");
    assert.match(verdict(both).why, /ip6 filter INPUT/);
  });

  test("a jump loop is reported as unknown, not a hang", () => {
    // The kernel refuses a loop when it is loaded, so this ruleset is made here: a guard, not a real listing.
    const [input] = nftFixture("walks", "walk_jump");
    assert.ok(input !== undefined);
    const loop: NftChain[] = [
      { ...input, rules: [{ expr: [{ jump: { target: "a" } }] }] },
      { ...input, name: "a", hook: undefined, rules: [{ expr: [{ jump: { target: "input" } }] }] },
    ];
    assert.equal(verdict(loop).verdict, "unknown");
  });
});
