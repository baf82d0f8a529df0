// SHA-256 and random hex without node:crypto (src/mqtt/sha256.ts): the MQTT identity must hash exactly as
// node:crypto did, or an upgraded gateway would get a new default base topic and Home Assistant device.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { randomHex, sha256Hex } from "../../src/mqtt/sha256.js";

test("sha256Hex is node:crypto's SHA-256 for every length around the block boundaries, and UTF-8", () => {
  for (let n = 0; n < 300; n++) {
    for (const text of ["x".repeat(n), `${"é".repeat(n % 5)}${"a".repeat(n)}`]) {
      assert.equal(sha256Hex(text), createHash("sha256").update(text).digest("hex"), `length ${text.length}`);
    }
  }
  // FIPS 180-2's example.
  assert.equal(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

test("randomHex gives the number of bytes asked for, in hex, different each time", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const hex = randomHex(3);
    assert.match(hex, /^[0-9a-f]{6}$/);
    seen.add(hex);
  }
  assert.ok(seen.size > 15, `${seen.size} distinct of 20`);
  assert.match(randomHex(16), /^[0-9a-f]{32}$/);
});
