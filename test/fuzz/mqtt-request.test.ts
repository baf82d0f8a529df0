// Property-based tests of the MQTT request parser (src/mqtt/commands.ts): whatever arrives on `<base>/request`,
// parseRequest answers without throwing; what it accepts re-validates and carries only safe values; what it
// refuses is answered with an error that names the field.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { portsSchema } from "../../src/config/schema.js";
import { expandPorts } from "../../src/core/ports.js";
import { COMMANDS, hasUnsafeCharacters, parseRequest, type ParsedRequest } from "../../src/mqtt/commands.js";
import { anyText, checkProperty, dotted, mutated, mutatedText } from "./support.js";

const safeText = fc.stringMatching(/^[A-Za-z0-9_.:/-]{1,64}$/);
const validId = fc.oneof(safeText, fc.nat(), fc.constant(undefined));
const validPorts = fc.uniqueArray(
  fc.record(
    { listen: fc.integer({ min: 1, max: 65535 }), target: fc.integer({ min: 1, max: 65535 }) },
    { noNullPrototype: true },
  ),
  { minLength: 1, maxLength: 64, selector: (p) => p.listen },
);
const validRequest = fc.oneof(
  fc.record(
    {
      id: validId,
      command: fc.constantFrom(...COMMANDS.filter((c) => c !== "set-ports")),
      args: fc.constant({}),
    },
    { requiredKeys: ["command"], noNullPrototype: true },
  ),
  fc.record(
    {
      id: validId,
      command: fc.constant("set-ports"),
      args: fc.record({ ports: validPorts }, { noNullPrototype: true }),
    },
    { requiredKeys: ["command", "args"], noNullPrototype: true },
  ),
);
const validText = validRequest.map((r) => JSON.stringify(r));

/** What every answer must satisfy, accepted or refused. */
function checkInvariants(parsed: ParsedRequest): void {
  if (!parsed.ok) {
    assert.equal(parsed.response.ok, false);
    assert.equal(typeof parsed.response.error, "string");
    assert.ok((parsed.response.error ?? "").length > 0, "an empty error");
    // The id echoed back is one we accept ourselves.
    const id = parsed.response.id;
    assert.ok(
      id === null || typeof id === "number" || (!hasUnsafeCharacters(id) && id.length <= 64),
      `echoed id ${JSON.stringify(id)}`,
    );
    return;
  }
  assert.ok((COMMANDS as readonly string[]).includes(parsed.command.name));
  if (typeof parsed.id === "string") assert.ok(!hasUnsafeCharacters(parsed.id) && parsed.id.length <= 64);
  if (typeof parsed.id === "number") assert.ok(Number.isSafeInteger(parsed.id) && parsed.id >= 0);
  if (parsed.command.name === "set-ports") {
    const ports = parsed.command.ports;
    // Re-validates, and every port that reaches a socat or nft command line is a whole number 1-65535.
    assert.deepEqual(portsSchema.parse(ports), ports);
    for (const p of ports) assert.deepEqual(Object.keys(p).sort(), ["listen", "target"]);
    const pairs = expandPorts(ports);
    for (const p of pairs)
      for (const n of [p.listen, p.target]) assert.ok(Number.isInteger(n) && n >= 1 && n <= 65535, String(n));
    assert.equal(new Set(pairs.map((p) => p.listen)).size, pairs.length, "a listen port twice");
  }
  // Accepted requests round-trip: the canonical form of what was understood is understood the same way.
  const again = parseRequest(
    JSON.stringify({ id: parsed.id ?? undefined, command: parsed.command.name, args: argsOf(parsed) }),
  );
  assert.ok(again.ok, "the accepted request does not re-validate");
  assert.deepEqual(again.command, parsed.command);
}

function argsOf(parsed: ParsedRequest & { ok: true }): unknown {
  return parsed.command.name === "set-ports" ? { ports: parsed.command.ports } : undefined;
}

function parse(payload: string | Buffer): ParsedRequest {
  try {
    return parseRequest(payload);
  } catch (e) {
    assert.fail(`parseRequest threw on ${JSON.stringify(String(payload).slice(0, 200))}: ${String(e)}`);
  }
}

test("MQTT requests: random text and bytes never throw, and every answer is well-formed", (t) => {
  checkProperty(t, "mqtt request, random text", [anyText], (text) => checkInvariants(parse(text)));
  checkProperty(t, "mqtt request, random bytes", [fc.uint8Array({ maxLength: 300 })], (bytes) =>
    checkInvariants(parse(Buffer.from(bytes))),
  );
});

test("MQTT requests: valid requests are accepted as sent", (t) => {
  checkProperty(t, "mqtt request, valid", [validRequest], (request) => {
    const parsed = parse(JSON.stringify(request));
    assert.ok(parsed.ok, `refused a valid request: ${JSON.stringify(request)}`);
    assert.equal(parsed.id, request.id ?? null);
    assert.equal(parsed.command.name, request.command);
    if (parsed.command.name === "set-ports" && request.args !== undefined && "ports" in request.args) {
      assert.deepEqual(parsed.command.ports, request.args.ports);
    }
    checkInvariants(parsed);
  });
});

test("MQTT requests: a near-valid request is accepted safely or refused naming the field", (t) => {
  checkProperty(
    t,
    "mqtt request, one structural change",
    [mutated(validRequest)],
    ({ value, path, kind }) => {
      if (value === undefined) return;
      const parsed = parse(JSON.stringify(value));
      checkInvariants(parsed);
      if (parsed.ok || path.length === 0) return;
      // The top-level field that was changed is named (an unknown key is named by itself or its parent).
      const error = parsed.response.error ?? "";
      const named = kind === "add-key" && path.length === 0 ? "(request)" : String(path[0]);
      assert.ok(
        error.includes(named) ||
          error.includes("(request)") ||
          (kind === "add-key" && error.includes("unknown key")),
        `error ${JSON.stringify(error)} does not name ${dotted(path)}`,
      );
    },
  );
  checkProperty(t, "mqtt request, text edits", [mutatedText(validText)], (text) =>
    checkInvariants(parse(text)),
  );
});
