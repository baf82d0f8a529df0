// Property-based tests of the `ip -s -json neigh show` parser (src/sources/neighbours.ts). An entry it returns can
// become the device address socat connects to and nft translates for, so it must be a valid IPv4 literal with a
// normalised MAC or none; anything else is a SyntaxError (not JSON) or a ZodError (not the shape ip prints), nothing else.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import * as z from "zod";
import { isIPv4, normalizeMac } from "../../src/core/addr.js";
import type { Neighbour } from "../../src/core/types.js";
import { parseIpNeighJson } from "../../src/sources/neighbours.js";
import { anyText, checkProperty, mutated, mutatedText } from "./support.js";

const opts = { noNullPrototype: true } as const;
const hex = fc.integer({ min: 0, max: 255 }).map((n) => n.toString(16).padStart(2, "0"));
const mac = fc.array(hex, { minLength: 6, maxLength: 6 }).map((b) => b.join(":"));
const state = fc.constantFrom("REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT", "NOARP");
const entry = fc.record(
  {
    dst: fc.ipV4(),
    lladdr: mac,
    refcnt: fc.nat({ max: 10 }),
    used: fc.nat({ max: 3600 }),
    confirmed: fc.nat({ max: 3600 }),
    updated: fc.nat({ max: 3600 }),
    probes: fc.nat({ max: 5 }),
    state: fc.array(state, { minLength: 1, maxLength: 2 }),
  },
  opts,
);
// FAILED and INCOMPLETE entries: no link-layer address.
const unresolved = fc.record({ dst: fc.ipV4(), state: fc.constant(["FAILED"]) }, opts);
const validOutput = fc.array(fc.oneof(entry, unresolved), { maxLength: 8 });

/** Parses, allowing only the documented errors; checks every entry returned is usable as a device address. */
function parse(text: string): Neighbour[] | undefined {
  let entries: Neighbour[];
  try {
    entries = parseIpNeighJson(text);
  } catch (e) {
    assert.ok(e instanceof SyntaxError || e instanceof z.ZodError, `undocumented ${String(e)}`);
    return undefined;
  }
  for (const n of entries) {
    assert.ok(isIPv4(n.address), `address ${n.address}`);
    if (n.mac !== undefined) assert.equal(normalizeMac(n.mac), n.mac, `mac ${n.mac}`);
    const age = n.confirmedAgoSec;
    assert.ok(age === undefined || (Number.isInteger(age) && age >= 0), `age ${String(age)}`);
  }
  return entries;
}

test("ip -json neigh: random text is parsed or refused with a documented error", (t) => {
  checkProperty(t, "ip -json neigh, random text", [anyText], (text) => void parse(text));
});

test("ip -json neigh: real-shaped output keeps every entry, a MAC where one was answered", (t) => {
  checkProperty(t, "ip -json neigh, valid", [validOutput], (output) => {
    const entries = parse(JSON.stringify(output));
    assert.ok(entries !== undefined, "refused valid output");
    assert.deepEqual(
      entries.map((n) => [n.address, n.mac, n.confirmedAgoSec]),
      output.map((e) => ("lladdr" in e ? [e.dst, e.lladdr, e.confirmed] : [e.dst, undefined, undefined])),
    );
  });
});

test("ip -json neigh: edited output yields only usable entries or a documented error", (t) => {
  checkProperty(t, "ip -json neigh, one structural change", [mutated(validOutput)], ({ value }) => {
    if (value !== undefined) parse(JSON.stringify(value));
  });
  checkProperty(
    t,
    "ip -json neigh, text edits",
    [mutatedText(validOutput.map((o) => JSON.stringify(o)))],
    (text) => void parse(text),
  );
});
