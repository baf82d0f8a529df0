// Property-based tests of the notify socket's line parser (src/sources/hotplug.ts): the socket is the agent's only
// input from other processes, so any line is answered with a message that re-validates or an error naming the field.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { canonicalIPv6, isIPv4, isInterfaceName, normalizeMac } from "../../src/core/addr.js";
import {
  isLogicalInterfaceName,
  HOTPLUG_KINDS,
  parseHotplugLine,
  validateHotplugMessage,
  type HotplugMessage,
  type ParseResult,
} from "../../src/sources/hotplug.js";
import { anyText, checkProperty, dotted, mutated, mutatedText } from "./support.js";

const action = fc.stringMatching(/^[a-z][a-z0-9_-]{0,31}$/);
const ifname = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/).filter(isInterfaceName);
const mac = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 })
  .chain((bytes) =>
    fc.constantFrom(
      bytes.map((b) => b.toString(16).padStart(2, "0")).join(":"),
      bytes.map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":"),
    ),
  );
const ip = fc.oneof(fc.ipV4(), fc.ipV6());
const opts = { noNullPrototype: true } as const;
const validMessage = fc.oneof(
  fc.record(
    { kind: fc.constant("iface"), action, interface: ifname, device: ifname },
    { ...opts, requiredKeys: ["kind", "action", "interface"] },
  ),
  fc.record({ kind: fc.constant("dhcp"), action, mac, ip }, { ...opts, requiredKeys: ["kind", "action"] }),
  fc.record(
    { kind: fc.constant("neigh"), action, mac, ip, interface: ifname },
    { ...opts, requiredKeys: ["kind", "action"] },
  ),
);

/** Everything an accepted message may carry toward a command line or a log is a valid name or address. */
function checkInvariants(result: ParseResult): void {
  if (!result.ok) {
    assert.ok(result.error.length > 0, "an empty error");
    return;
  }
  const m: HotplugMessage = result.message;
  assert.ok(HOTPLUG_KINDS.includes(m.kind));
  assert.match(m.action, /^[a-z][a-z0-9_-]{0,31}$/);
  // An iface hint may name a netifd logical interface (longer than the kernel's 15 bytes): it only triggers a snapshot.
  const nameRule = m.kind === "iface" ? isLogicalInterfaceName : isInterfaceName;
  if ("interface" in m && m.interface !== undefined) assert.ok(nameRule(m.interface), m.interface);
  if ("device" in m && m.device !== undefined) assert.ok(isInterfaceName(m.device), m.device);
  if ("mac" in m && m.mac !== undefined) assert.equal(normalizeMac(m.mac), m.mac);
  if ("ip" in m && m.ip !== undefined) assert.ok(isIPv4(m.ip) || canonicalIPv6(m.ip) === m.ip, m.ip);
  // Re-validates to itself: normalisation is done once and for all.
  assert.deepEqual(validateHotplugMessage(m), { ok: true, message: m });
}

function parse(line: string): ParseResult {
  try {
    return parseHotplugLine(line);
  } catch (e) {
    assert.fail(`parseHotplugLine threw on ${JSON.stringify(line.slice(0, 200))}: ${String(e)}`);
  }
}

test("notify lines: random text never throws, and every answer is well-formed", (t) => {
  checkProperty(t, "notify line, random text", [anyText], (text) => checkInvariants(parse(text)));
});

test("notify lines: valid messages are accepted with their values normalised", (t) => {
  checkProperty(t, "notify line, valid", [validMessage], (message) => {
    const result = parse(JSON.stringify(message));
    assert.ok(result.ok, `refused ${JSON.stringify(message)}: ${result.ok ? "" : result.error}`);
    checkInvariants(result);
    const expected: Record<string, unknown> = { ...message };
    if ("mac" in message && message.mac !== undefined) expected.mac = message.mac.toLowerCase();
    if ("ip" in message && message.ip !== undefined)
      expected.ip = isIPv4(message.ip) ? message.ip : canonicalIPv6(message.ip);
    assert.deepEqual(result.message, expected);
  });
});

test("notify lines: a near-valid message is accepted safely or refused naming the field", (t) => {
  checkProperty(t, "notify line, one structural change", [mutated(validMessage)], ({ value, path, kind }) => {
    if (value === undefined) return;
    const result = parse(JSON.stringify(value));
    checkInvariants(result);
    if (result.ok || path.length === 0) return;
    // A changed `kind` is answered about kind; any other changed field is named, or the unknown key is.
    const field = String(path[0]);
    assert.ok(
      result.error.includes(field) ||
        result.error.includes("kind") ||
        (kind === "add-key" && /unknown key/.test(result.error)),
      `error ${JSON.stringify(result.error)} does not name ${dotted(path)}`,
    );
  });
  checkProperty(
    t,
    "notify line, text edits",
    [mutatedText(validMessage.map((m) => JSON.stringify(m)))],
    (text) => checkInvariants(parse(text)),
  );
});
