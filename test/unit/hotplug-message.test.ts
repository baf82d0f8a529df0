import { test } from "node:test";
import assert from "node:assert/strict";
import { parseHotplugLine, type HotplugMessage } from "../../src/sources/hotplug.js";
import { buildNotifyMessage } from "../../src/cli/notify.js";

const accepted: [string, HotplugMessage][] = [
  ['{"kind":"iface","action":"ifup","interface":"wan"}', { kind: "iface", action: "ifup", interface: "wan" }],
  [
    '{"kind":"iface","action":"ifupdate","interface":"wan6","device":"eth0.2"}',
    { kind: "iface", action: "ifupdate", interface: "wan6", device: "eth0.2" },
  ],
  [
    '{"kind":"iface","action":"no-carrier","interface":"enp1s0"}',
    { kind: "iface", action: "no-carrier", interface: "enp1s0" },
  ],
  [
    '{"kind":"iface","action":"dhcp4-change","interface":"wlan0"}',
    { kind: "iface", action: "dhcp4-change", interface: "wlan0" },
  ],
  // A netifd logical name (a UCI section) is not bound by the kernel's 15 bytes.
  [
    '{"kind":"iface","action":"ifup","interface":"wireguard_office_backup","device":"wg0"}',
    { kind: "iface", action: "ifup", interface: "wireguard_office_backup", device: "wg0" },
  ],
  [
    '{"kind":"dhcp","action":"add","mac":"02:00:00:00:01:00","ip":"192.168.1.100"}',
    { kind: "dhcp", action: "add", mac: "02:00:00:00:01:00", ip: "192.168.1.100" },
  ],
  // MACs are normalised to lowercase, IPv6 to its canonical text.
  [
    '{"kind":"dhcp","action":"old","mac":"02:AA:BB:CC:DD:EE","ip":"2001:DB8:0:0::1"}',
    { kind: "dhcp", action: "old", mac: "02:aa:bb:cc:dd:ee", ip: "2001:db8::1" },
  ],
  ['{"kind":"dhcp","action":"remove"}', { kind: "dhcp", action: "remove" }],
  [
    '{"kind":"neigh","action":"add","mac":"02:00:00:00:01:00","ip":"192.168.1.100","interface":"br-lan"}',
    { kind: "neigh", action: "add", mac: "02:00:00:00:01:00", ip: "192.168.1.100", interface: "br-lan" },
  ],
  // Surrounding whitespace in a JSON line is fine.
  ['  {"kind":"neigh","action":"remove"}  ', { kind: "neigh", action: "remove" }],
];

for (const [line, message] of accepted) {
  test(`accepts ${line.trim()}`, () => {
    assert.deepEqual(parseHotplugLine(line), { ok: true, message });
  });
}

const rejected: [string, RegExp][] = [
  ["", /not valid JSON/],
  ["ifup wan", /not valid JSON/],
  ['{"kind":"iface"', /not valid JSON/],
  ["null", /not a JSON object/],
  ["[1,2]", /not a JSON object/],
  ['"iface"', /not a JSON object/],
  ['{"action":"ifup","interface":"wan"}', /^kind: must be iface, dhcp or neigh/],
  ['{"kind":"reboot","action":"now"}', /^kind: must be iface, dhcp or neigh/],
  ['{"kind":"iface","action":"ifup"}', /^interface: is required/],
  ['{"kind":"iface","interface":"wan"}', /^action: is required/],
  ['{"kind":"iface","action":"ifup","interface":"wan; reboot"}', /^interface: must be an interface name/],
  [
    `{"kind":"iface","action":"ifup","interface":"${"w".repeat(65)}"}`,
    /^interface: must be an interface name or a netifd logical name/,
  ],
  [
    '{"kind":"iface","action":"ifup","interface":"-wan"}',
    /^interface: must be an interface name or a netifd logical name/,
  ],
  [
    '{"kind":"iface","action":"ifup","interface":"wan","device":"averyveryverylongname"}',
    /^device: must be an interface name/,
  ],
  [
    '{"kind":"neigh","action":"add","interface":"averyveryverylongname"}',
    /^interface: must be an interface name/,
  ],
  ['{"kind":"iface","action":"ifup","interface":"../etc"}', /^interface: must be an interface name/],
  ['{"kind":"iface","action":"ifup","interface":7}', /^interface: must be a string/],
  ['{"kind":"iface","action":"IFUP","interface":"wan"}', /^action: must be a lowercase word/],
  ['{"kind":"iface","action":"up now","interface":"wan"}', /^action: must be a lowercase word/],
  ['{"kind":"iface","action":"ifup","interface":"wan","mac":"02:00:00:00:01:00"}', /unknown key\(s\): mac/],
  ['{"kind":"dhcp","action":"add","mac":"02:00:00:00:01"}', /^mac: must be a MAC address/],
  ['{"kind":"dhcp","action":"add","mac":"02-00-00-00-01-00"}', /^mac: must be a MAC address/],
  ['{"kind":"dhcp","action":"add","ip":"192.168.1.256"}', /^ip: must be an IPv4 or IPv6 address/],
  ['{"kind":"dhcp","action":"add","ip":"192.168.001.1"}', /^ip: must be an IPv4 or IPv6 address/],
  ['{"kind":"dhcp","action":"add","ip":"fe80::1%eth0"}', /^ip: must be an IPv4 or IPv6 address/],
  ['{"kind":"dhcp","action":"add","hostname":"cam"}', /unknown key\(s\): hostname/],
  ['{"kind":"neigh","action":"add","device":"eth0"}', /unknown key\(s\): device/],
  [
    `{"kind":"iface","action":"ifup","interface":"wan","pad":"${"x".repeat(5000)}"}`,
    /longer than 4096 bytes/,
  ],
];

for (const [line, error] of rejected) {
  test(`rejects ${line.length > 80 ? `${line.slice(0, 80)}...` : JSON.stringify(line)}`, () => {
    const result = parseHotplugLine(line);
    assert.equal(result.ok, false);
    assert.match(result.error, error);
  });
}

test("notify arguments build the same messages the socket accepts", () => {
  assert.deepEqual(buildNotifyMessage("iface", ["action=ifup", "interface=wan", "device=eth0.2"]), {
    ok: true,
    message: { kind: "iface", action: "ifup", interface: "wan", device: "eth0.2" },
  });
  // An empty value counts as not given, so hooks can pass device="$DEVICE" unconditionally.
  assert.deepEqual(buildNotifyMessage("iface", ["action=ifdown", "interface=wan", "device="]), {
    ok: true,
    message: { kind: "iface", action: "ifdown", interface: "wan" },
  });
  assert.deepEqual(buildNotifyMessage("dhcp", ["action=add", "mac=02:00:00:00:01:00", "ip=192.168.1.100"]), {
    ok: true,
    message: { kind: "dhcp", action: "add", mac: "02:00:00:00:01:00", ip: "192.168.1.100" },
  });
  // A value may itself contain "=".
  const withEquals = buildNotifyMessage("iface", ["action=ifup", "interface=a=b"]);
  assert.equal(withEquals.ok, false);
  assert.match(withEquals.error, /^interface: must be an interface name/);
});

const badArguments: [string | undefined, string[], RegExp][] = [
  [undefined, [], /missing kind/],
  ["", [], /missing kind/],
  ["link", ["action=up"], /unknown kind "link"/],
  ["iface", ["action=ifup", "wan"], /expected key=value, got "wan"/],
  ["iface", ["action=ifup", "=wan"], /expected key=value/],
  ["iface", ["action=ifup", "interface=wan", "interface=lan"], /interface is given twice/],
  ["iface", ["kind=dhcp", "action=ifup", "interface=wan"], /kind is given as the first argument/],
  ["iface", ["action=ifup", "interface=wan", "colour=red"], /unknown key\(s\): colour/],
  ["iface", ["action=ifup"], /interface: is required/],
  ["dhcp", ["action=add", "mac=nonsense"], /mac: must be a MAC address/],
  ["neigh", ["action=add", "ip=1.2.3.4.5"], /ip: must be an IPv4 or IPv6 address/],
];

for (const [kind, args, error] of badArguments) {
  test(`notify refuses ${JSON.stringify([kind, ...args])}`, () => {
    const result = buildNotifyMessage(kind, args);
    assert.equal(result.ok, false);
    assert.match(result.error, error);
  });
}
