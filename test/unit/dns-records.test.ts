// The records wanted, a pure function of the status: which names, which addresses, and when none.
import { test } from "node:test";
import assert from "node:assert/strict";
import { deviceHostname, wantedRecords, type RecordSource } from "../../src/core/dns.js";

const settings = { zone: "example.test" };
const device = (name: string, hostname: string | null, ipv6?: RecordSource["devices"][number]["ipv6"]) => ({
  name,
  hostname,
  ...(ipv6 === undefined ? {} : { ipv6 }),
});

test("a device's hostname is the FQDN with dns:, the bare name without, null without a hostname", () => {
  assert.equal(deviceHostname("cam", "example.test"), "cam.example.test");
  assert.equal(deviceHostname("cam", undefined), "cam");
  assert.equal(deviceHostname(undefined, "example.test"), null);
});

test("shared devices and the gateway name follow the WAN address; devices without a hostname have no record", () => {
  const status: RecordSource = {
    wan: { address: "2001:db8:2::1" },
    devices: [
      device("printer", "printer.example.test"),
      device("plc", null),
      device("cam", "cam.example.test"),
    ],
  };
  assert.deepEqual(wantedRecords(status, { ...settings, gatewayName: "gw" }), [
    { name: "cam.example.test", address: "2001:db8:2::1" },
    { name: "gw.example.test", address: "2001:db8:2::1" },
    { name: "printer.example.test", address: "2001:db8:2::1" },
  ]);
  // No WAN address yet: the names are wanted, with no address (the updater then leaves them alone).
  assert.deepEqual(wantedRecords({ ...status, wan: { address: null } }, settings), [
    { name: "cam.example.test", address: null },
    { name: "printer.example.test", address: null },
  ]);
});

test("an own address is used once valid; tentative, duplicate or absent gives none; shared mode its listen address", () => {
  const wan = { address: "2001:db8:2::1" };
  const own = (state: "absent" | "tentative" | "valid" | "dadfailed", address: string | null) =>
    wantedRecords(
      { wan, devices: [device("cam", "cam.example.test", { mode: "own", address, state })] },
      settings,
    )[0]?.address;
  assert.equal(own("valid", "2001:db8:2::80"), "2001:db8:2::80");
  assert.equal(own("tentative", "2001:db8:2::80"), null);
  assert.equal(own("dadfailed", "2001:db8:2::80"), null);
  assert.equal(own("absent", null), null);
  const shared = wantedRecords(
    {
      wan,
      devices: [device("cam", "cam.example.test", { mode: "shared", address: "2001:db8:2::1", state: null })],
    },
    settings,
  );
  assert.deepEqual(shared, [{ name: "cam.example.test", address: "2001:db8:2::1" }]);
});
