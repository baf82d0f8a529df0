// Property-based tests of the lease file parsers (src/core/leases.ts), dnsmasq's and odhcpd's: any file content gives
// a list of leases whose MAC and address may go on a command line; a well-formed file round-trips.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { isIPv4, normalizeMac } from "../../src/core/addr.js";
import { parseDnsmasqLeases, parseLeaseFile } from "../../src/core/leases.js";
import type { Lease } from "../../src/core/types.js";
import { anyText, checkProperty, mutatedText } from "./support.js";

const mac = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 })
  .map((bytes) => bytes.map((b) => b.toString(16).padStart(2, "0")).join(":"));
const hostname = fc.oneof(fc.constant("*"), fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9-]{0,20}$/));
const lease: fc.Arbitrary<Lease> = fc.record(
  {
    expires: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 32 })),
    mac,
    address: fc.ipV4(),
    hostname,
  },
  { noNullPrototype: true },
);
const clientId = fc.oneof(fc.constant("*"), fc.stringMatching(/^[0-9a-f]{2}(:[0-9a-f]{2}){1,8}$/));
/** An IPv6 section as dnsmasq writes it: a "duid" line, then leases the parser must not take for IPv4 ones. */
const ipv6Section = fc.oneof(
  fc.constant(""),
  fc.constant("duid 00:01:00:01:2c:5b:7f:1a:02:00:00:00:01:00\n1732000000 1234 2001:db8::10 host *\n"),
);

function formatLeases(leases: Lease[], ids: string[], tail: string): string {
  return (
    leases.map((l, i) => `${l.expires} ${l.mac} ${l.address} ${l.hostname} ${ids[i] ?? "*"}\n`).join("") +
    tail
  );
}
const validFile = fc
  .tuple(fc.array(lease, { maxLength: 8 }), fc.array(clientId, { maxLength: 8 }), ipv6Section)
  .map(([leases, ids, tail]) => ({ leases, text: formatLeases(leases, ids, tail) }));

/** Every lease parsed may reach nft and socat: a normalised MAC, an IPv4 address, a finite whole expiry. */
function checkLeases(text: string, parse = (t: string) => parseDnsmasqLeases(t).leases): Lease[] {
  let leases: Lease[];
  try {
    leases = parse(text);
  } catch (e) {
    assert.fail(`the parser threw on ${JSON.stringify(text.slice(0, 200))}: ${String(e)}`);
  }
  for (const l of leases) {
    assert.equal(normalizeMac(l.mac), l.mac);
    assert.ok(isIPv4(l.address), l.address);
    assert.ok(Number.isSafeInteger(l.expires) && l.expires >= 0, `expiry ${l.expires}`);
    assert.ok(l.hostname.length > 0 && !/\s/.test(l.hostname), `hostname ${JSON.stringify(l.hostname)}`);
  }
  return leases;
}

test("lease files: random content never throws and yields only valid leases", (t) => {
  checkProperty(t, "lease file, random text", [anyText], (text) => void checkLeases(text));
});

test("lease files: a dnsmasq lease file round-trips", (t) => {
  checkProperty(t, "lease file, valid", [validFile], ({ leases, text }) => {
    assert.deepEqual(checkLeases(text), leases);
  });
});

test("lease files: edited files and edited lines yield only valid leases, and good lines survive bad ones", (t) => {
  checkProperty(t, "lease file, text edits", [mutatedText(validFile.map((f) => f.text))], (text) => {
    checkLeases(text);
  });
  // A garbled line (half-written, truncated, junk) costs only that line.
  checkProperty(
    t,
    "lease file, good lines around a bad one",
    [validFile, mutatedText(fc.constant("1732000000 02:00:00:00:01:00 192.168.1.100 device *"))],
    ({ leases }, junk) => {
      const good = formatLeases(leases, [], "");
      const parsed = checkLeases(`${junk}\n${good}`);
      // The junk line may itself still be a lease; the good ones all follow it, unless it started the IPv6 part.
      if (!/^\s*duid(\s|$)/.test(junk)) assert.deepEqual(parsed.slice(parsed.length - leases.length), leases);
    },
  );
});

// Found by the property above: a garbled expiry past 2^53 (or 400 digits: Infinity) was taken as a lease, and
// device.ts's sort by expiry then compares NaN.
test("lease files: an expiry that is no whole number of seconds drops the line", () => {
  assert.deepEqual(parseDnsmasqLeases("9090000090900000 00:00:00:00:00:00 0.0.0.0 0 *\n").leases, []);
  assert.deepEqual(
    parseDnsmasqLeases(`${"9".repeat(400)} 02:00:00:00:01:00 192.168.1.100 dev *\n`).leases,
    [],
  );
  assert.equal(parseDnsmasqLeases("0 02:00:00:00:01:00 192.168.1.100 dev *\n").leases[0]?.expires, 0);
});

// ---- odhcpd's state file ----

/** A lease as odhcpd writes it: the MAC unpadded (ether_ntoa) or, before 2025-11, as 12 hex digits. */
const odhcpdLease = fc
  .record(
    {
      lease,
      oldMac: fc.boolean(),
      /** -1 infinite, else wall-clock seconds. */
      infinite: fc.boolean(),
      iface: fc.constantFrom("br-lan", "br-guest", "lan0"),
      broken: fc.boolean(),
    },
    { noNullPrototype: true },
  )
  .map(({ lease: l, oldMac, infinite, iface, broken }) => {
    const bytes = l.mac.split(":");
    const mac = oldMac ? bytes.join("") : bytes.map((b) => b.replace(/^0(?=.)/, "")).join(":");
    const written = l.hostname === "*" ? "-" : l.hostname;
    const hostname = broken ? `broken\\x20${written}` : written;
    const valid = infinite ? -1 : Math.max(1, l.expires);
    const hex = l.address
      .split(".")
      .reduce((n, o) => n * 256 + Number(o), 0)
      .toString(16);
    return {
      expected: {
        ...l,
        hostname: l.hostname === "*" && !broken ? "*" : hostname,
        expires: infinite ? 0 : valid,
      },
      line: `# ${iface} ${mac} ipv4 ${hostname} ${valid} ${hex} 32 ${l.address}/32\n`,
    };
  });
/** Lines the parser knows and skips: IPv6 leases and prefixes, the hosts lines older versions wrote. */
const odhcpdOther = fc.constantFrom(
  "# br-lan 000100012c5b7f1a020000000100 1a2b3c4d camera 1767225600 64 128 fd00::64/128 2001:db8::64/128\n",
  "# br-lan 00030001020000000109 1 - -1 1 56 2001:db8:1:100::/56\n",
  "# br-lan 00030001020000000109 2 - 1767225600 0 64\n",
  "192.168.1.100\tcamera.lan\tcamera\n",
  "fd00::64\tcamera\n",
);
const odhcpdFile = fc
  .array(fc.tuple(odhcpdLease, fc.option(odhcpdOther, { nil: undefined })), { minLength: 1, maxLength: 8 })
  .map((entries) => ({
    leases: entries.map(([l]) => l.expected),
    text: entries.map(([l, other]) => `${other ?? ""}${l.line}`).join(""),
  }));

const parseAny = (text: string) => parseLeaseFile(text).leases;

test("odhcpd state files: random text never throws and yields only valid leases", (t) => {
  checkProperty(t, "any lease file, random text", [anyText], (text) => void checkLeases(text, parseAny));
});

test("odhcpd state files: a file as odhcpd writes it round-trips, recognised as odhcpd", (t) => {
  checkProperty(t, "odhcpd file, valid", [odhcpdFile], ({ leases, text }) => {
    const parsed = parseLeaseFile(text);
    assert.equal(parsed.format, "odhcpd");
    assert.equal(parsed.badLines, 0);
    assert.deepEqual(checkLeases(text, parseAny), leases);
  });
});

test("odhcpd state files: edited lines yield only valid leases, and good lines survive a bad one", (t) => {
  checkProperty(t, "odhcpd file, text edits", [mutatedText(odhcpdFile.map((f) => f.text))], (text) => {
    checkLeases(text, parseAny);
  });
  checkProperty(
    t,
    "odhcpd file, good lines after a bad one",
    [
      odhcpdFile,
      mutatedText(fc.constant("# br-lan 2:0:0:0:1:0 ipv4 camera 1767225600 c0a80164 32 192.168.1.100/32")),
    ],
    ({ leases, text }, junk) => {
      const parsed = checkLeases(`${junk}\n${text}`, parseAny);
      // The junk line may itself still be a lease (or, edited into a dnsmasq line, decide the format: then the
      // odhcpd lines are all bad, and say so).
      if (parseLeaseFile(`${junk}\n${text}`).format === "odhcpd")
        assert.deepEqual(parsed.slice(parsed.length - leases.length), leases);
    },
  );
});
