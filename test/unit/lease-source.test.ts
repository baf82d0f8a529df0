// The lease source (src/sources/leases.ts) on real files: every listed file read and merged, each file's format and
// trouble reported (and logged once), every file's directory watched.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ReplaySubject } from "rxjs";
import type { Event } from "../../src/core/types.js";
import { leaseEvents, readLeases } from "../../src/sources/leases.js";
import { recordingLogger, waitFor } from "../hotplug/helpers.js";

const DNSMASQ = "1767225600 02:00:00:00:01:00 192.168.1.100 camera *\n";
const ODHCPD = "# br-lan 2:0:0:0:1:1 ipv4 printer 1767225600 c0a80165 32 192.168.1.101/32\n";

async function tempDir(t: { after: (f: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-leases-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test("readLeases merges the listed files and reports each one's format; an unknown one is logged once", async (t) => {
  const dir = await tempDir(t);
  const files = ["dhcp.leases", "odhcpd", "kea.csv", "empty", "absent"].map((f) => join(dir, f));
  const [dnsmasq, odhcpd, kea, empty, absent] = files as [string, string, string, string, string];
  await writeFile(dnsmasq, DNSMASQ);
  await writeFile(odhcpd, ODHCPD);
  await writeFile(kea, "address,hwaddr\n192.168.1.102,02:00:00:00:01:02\n");
  await writeFile(empty, "");
  const { log, records } = recordingLogger();
  const logged = new Map<string, string>();
  const event = await readLeases(files, log, logged);
  assert.ok(event.type === "leases");
  assert.deepEqual(
    event.leases.map((l) => l.address),
    ["192.168.1.100", "192.168.1.101"],
  );
  assert.deepEqual(
    event.files?.map((f) => [f.file, f.format, f.leases]),
    [
      [dnsmasq, "dnsmasq", 1],
      [odhcpd, "odhcpd", 1],
      [kea, "unknown", 0],
      [empty, "empty", 0],
      [absent, "missing", 0],
    ],
  );
  const unknownLogged = () => records.filter((r) => r.file === kea && /unrecognised format/.test(r.msg));
  assert.equal(unknownLogged().length, 1);
  await readLeases(files, log, logged);
  assert.equal(unknownLogged().length, 1, "the same trouble is not logged at every read");
});

test("leaseEvents watches every listed file's directory: a lease written into the second file is seen", async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, "hosts"));
  const dnsmasq = join(dir, "dhcp.leases");
  const odhcpd = join(dir, "hosts", "odhcpd");
  await writeFile(dnsmasq, DNSMASQ);
  const { log } = recordingLogger();
  const events = new ReplaySubject<Event>();
  const subscription = leaseEvents([dnsmasq, odhcpd], log).subscribe(events);
  t.after(() => subscription.unsubscribe());
  let last: Event | undefined;
  events.subscribe((e) => (last = e));
  const addresses = () => (last?.type === "leases" ? last.leases.map((l) => l.address) : []);
  await waitFor(() => addresses().length === 1);
  // As odhcpd writes it: a temporary file renamed over the state file.
  await writeFile(join(dir, "hosts", ".odhcpd.tmp"), ODHCPD);
  await rename(join(dir, "hosts", ".odhcpd.tmp"), odhcpd);
  await waitFor(() => addresses().length === 2, 5000);
  assert.deepEqual(addresses(), ["192.168.1.100", "192.168.1.101"]);
});
