// Property-based tests of the `ip -json addr show` parser (src/sources/ip-addr.ts). Its addresses become the WAN
// address socat binds and the LAN address nft translates to, so whatever it returns must be a valid literal of
// its family; anything else is a SyntaxError (not JSON) or a ZodError (not the shape ip prints), nothing else.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { z } from "zod";
import { canonicalIPv6, isIPv4 } from "../../src/core/addr.js";
import { parseLinkDetails, toLinkInfo, type LinkDetail } from "../../src/sources/ip-addr.js";
import { anyText, checkProperty, mutated, mutatedText } from "./support.js";

const FOREVER = 4294967295;
const opts = { noNullPrototype: true } as const;
const lifetime = fc.oneof(fc.constant(FOREVER), fc.nat({ max: 86400 * 30 }));
const flag = fc.option(fc.constant(true), { nil: undefined });
const inet = fc.record(
  { family: fc.constant("inet"), local: fc.ipV4(), prefixlen: fc.integer({ min: 0, max: 32 }) },
  opts,
);
const inet6 = fc.record(
  {
    family: fc.constant("inet6"),
    // ip prints the canonical form (RFC 5952); the parser must keep it exactly.
    local: fc.ipV6().map((a) => canonicalIPv6(a) ?? "::"),
    prefixlen: fc.integer({ min: 0, max: 128 }),
  },
  opts,
);
const address = fc
  .tuple(
    fc.oneof(inet, inet6),
    fc.record(
      {
        scope: fc.constantFrom("global", "link", "host"),
        dynamic: flag,
        tentative: flag,
        deprecated: flag,
        temporary: flag,
        dadfailed: flag,
        valid_life_time: lifetime,
        preferred_life_time: lifetime,
      },
      { ...opts, requiredKeys: ["scope", "valid_life_time", "preferred_life_time"] },
    ),
  )
  .map(([a, b]) => ({ ...a, ...b }));
const link = fc.record(
  {
    ifindex: fc.nat({ max: 1000 }),
    ifname: fc.stringMatching(/^[a-z][a-z0-9_.-]{0,14}$/),
    flags: fc.subarray(["BROADCAST", "MULTICAST", "UP", "LOWER_UP", "NO-CARRIER"]),
    mtu: fc.constantFrom(1280, 1500),
    operstate: fc.constantFrom("UP", "DOWN", "UNKNOWN"),
    // `ip -json` prints an address it filtered out as an empty object.
    addr_info: fc.array(
      fc.oneof({ weight: 6, arbitrary: address }, { weight: 1, arbitrary: fc.constant({}) }),
      {
        maxLength: 5,
      },
    ),
  },
  opts,
);
const validOutput = fc.array(link, { maxLength: 4 });

/** Parses, allowing only the documented errors; checks every address returned is a valid literal of its family. */
function parse(text: string): LinkDetail[] | undefined {
  let links: LinkDetail[];
  try {
    links = parseLinkDetails(text);
  } catch (e) {
    assert.ok(e instanceof SyntaxError || e instanceof z.ZodError, `undocumented ${String(e)}`);
    return undefined;
  }
  for (const l of links) {
    assert.equal(typeof l.name, "string");
    for (const a of l.addresses) {
      if (a.family === "inet") {
        assert.ok(isIPv4(a.address), `inet ${a.address}`);
        assert.ok(Number.isInteger(a.prefixlen) && a.prefixlen >= 0 && a.prefixlen <= 32, `/${a.prefixlen}`);
      } else {
        assert.equal(a.family, "inet6");
        assert.equal(canonicalIPv6(a.address), a.address, `inet6 ${a.address}`);
        assert.ok(Number.isInteger(a.prefixlen) && a.prefixlen >= 0 && a.prefixlen <= 128, `/${a.prefixlen}`);
      }
      for (const lft of [a.validLft, a.preferredLft]) {
        assert.ok(lft === undefined || (Number.isInteger(lft) && lft >= 0), `lifetime ${String(lft)}`);
      }
    }
  }
  // What the core gets is the same links and addresses.
  assert.deepEqual(
    toLinkInfo(links).map((l) => [l.name, l.addresses.length]),
    links.map((l) => [l.name, l.addresses.length]),
  );
  return links;
}

test("ip -json: random text is parsed or refused with a documented error", (t) => {
  checkProperty(t, "ip -json, random text", [anyText], (text) => void parse(text));
});

test("ip -json: real-shaped output round-trips", (t) => {
  checkProperty(t, "ip -json, valid", [validOutput], (output) => {
    const links = parse(JSON.stringify(output));
    assert.ok(links !== undefined, "refused valid output");
    assert.deepEqual(
      links.map((l) => ({ name: l.name, addresses: l.addresses.map((a) => `${a.address}/${a.prefixlen}`) })),
      output.map((l) => ({
        name: l.ifname,
        addresses: l.addr_info.flatMap((a) => ("local" in a ? [`${a.local}/${a.prefixlen}`] : [])),
      })),
    );
    links.forEach((l, i) => {
      const flags = output[i]?.flags ?? [];
      assert.equal(l.adminUp, flags.includes("UP"));
      assert.equal(l.carrier, flags.includes("LOWER_UP") && !flags.includes("NO-CARRIER"));
    });
  });
});

test("ip -json: edited output yields only valid addresses or a documented error", (t) => {
  checkProperty(t, "ip -json, one structural change", [mutated(validOutput)], ({ value }) => {
    if (value !== undefined) parse(JSON.stringify(value));
  });
  checkProperty(
    t,
    "ip -json, text edits",
    [mutatedText(validOutput.map((o) => JSON.stringify(o)))],
    (text) => {
      parse(text);
    },
  );
});

// Found by the property above: `local` went to the core as it came, so a junk or non-canonical address could
// become the WAN address socat binds (and a configured literal never matched a non-canonical spelling).
test("ip -json: addresses that are no valid literal are skipped, IPv6 ones are made canonical", () => {
  const out = JSON.stringify([
    {
      ifname: "wan0",
      flags: ["UP", "LOWER_UP"],
      addr_info: [
        { family: "inet", local: "", prefixlen: 0 },
        { family: "inet6", local: "2001:db8::1;reboot", prefixlen: 64 },
        { family: "inet6", local: "2001:db8::2", prefixlen: 129 },
        { family: "inet6", local: "2001:DB8:0:0::3", prefixlen: 64 },
      ],
    },
  ]);
  assert.deepEqual(
    parseLinkDetails(out)[0]?.addresses.map((a) => `${a.address}/${a.prefixlen}`),
    ["2001:db8::3/64"],
  );
});
