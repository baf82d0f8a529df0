// The devices' own IPv6 addresses (`ipv6: own`): added to and removed from their interface with `ip -6 addr`, and
// recorded in runtimeDir/addresses.json, so a restarted agent (or `sixgate cleanup`) adopts or removes exactly the
// addresses it added and never another. iproute2's address `proto` marker would say the same in the kernel, but
// Debian 12's iproute2 6.1 rejects it.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import { BehaviorSubject, filter, type Observable } from "rxjs";
import { canonicalIPv6, isInterfaceName } from "../core/addr.js";
import { compareByDevice, type OwnAddress } from "../core/types.js";
import { parseIpAddrJson } from "../sources/ip-addr.js";
import { removeFile, writeFileAtomic } from "./atomic-file.js";
import { runChecked, type Runner } from "./exec.js";

export interface OwnAddresses {
  /**
   * Reads the record an earlier run left: the addresses still on their interface are ours again (returned, kept in
   * the record), the others are forgotten. Call once, before the first reconcile.
   */
  adopt(): Promise<OwnAddress[]>;
  /** Records it, then adds it; throws (and forgets it) when the interface already holds it and it is not ours. */
  add(address: OwnAddress): Promise<void>;
  /** Removes one we added (gone already is fine), then forgets it. Never removes an address we did not record. */
  remove(address: OwnAddress): Promise<void>;
  /** Removes every address we recorded (stop, cleanup); errors are logged, not thrown. */
  removeAll(): Promise<void>;
  /** Those of `addresses` that are on their interface now (the read-back of drift repair). */
  present(addresses: readonly OwnAddress[]): Promise<OwnAddress[]>;
  /**
   * The record, whole: the current one at subscription (once adopt() read it), then each change, emitted before the
   * address it adds is on the interface. The plan serves only on recorded addresses (Facts.recordedAddresses): one
   * present but not in it is another program's.
   */
  readonly records: Observable<OwnAddress[]>;
}

/** runtimeDir/addresses.json: a JSON array of OwnAddress, written whole (atomic-file.ts). */
export const addressRecordPath = (runtimeDir: string) => join(runtimeDir, "addresses.json");

const same = (a: OwnAddress, b: OwnAddress) =>
  a.device === b.device && a.interface === b.interface && a.address === b.address;

/** Refuses anything that could be misread on ip's command line; the core only makes valid ones. */
function checked(a: OwnAddress): OwnAddress {
  if (!isInterfaceName(a.interface)) throw new Error(`bad interface name ${JSON.stringify(a.interface)}`);
  if (canonicalIPv6(a.address) !== a.address)
    throw new Error(`bad IPv6 address ${JSON.stringify(a.address)}`);
  return a;
}

/**
 * The record as the agent last wrote it, read only (`sixgate plan`, doctor): empty when there is none; undefined when
 * it cannot be read (the plan then serves on no own address already present).
 */
export async function readAddressRecord(runtimeDir: string): Promise<OwnAddress[] | undefined> {
  try {
    return parseRecord(await readFile(addressRecordPath(runtimeDir), "utf8"));
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ENOENT" ? [] : undefined;
  }
}

function parseRecord(text: string): OwnAddress[] {
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value)) return [];
  return value.flatMap((v: unknown) => {
    if (typeof v !== "object" || v === null) return [];
    const { device, interface: iface, address } = v as Record<string, unknown>;
    if (typeof device !== "string" || typeof iface !== "string" || typeof address !== "string") return [];
    try {
      return [checked({ device, interface: iface, address })];
    } catch {
      return [];
    }
  });
}

export function createOwnAddresses(options: {
  runner: Runner;
  log: Logger;
  runtimeDir: string;
}): OwnAddresses {
  const { runner, log } = options;
  const file = addressRecordPath(options.runtimeDir);
  let ours: OwnAddress[] = [];
  const records = new BehaviorSubject<OwnAddress[] | undefined>(undefined);

  const save = async () => {
    records.next([...ours].sort(compareByDevice));
    if (ours.length === 0) await removeFile(file);
    else
      await writeFileAtomic(file, `${JSON.stringify([...ours].sort(compareByDevice))}\n`, {
        parentMode: 0o700,
      });
  };
  const load = async () => {
    try {
      ours = parseRecord(await readFile(file, "utf8"));
    } catch {
      ours = [];
    }
  };
  /** The IPv6 addresses on an interface, as `ip -json addr` lists them; none when it is gone. */
  const onInterface = async (iface: string): Promise<Set<string>> => {
    const result = await runner.run(["ip", "-6", "-json", "addr", "show", "dev", iface]);
    if (result.exitCode !== 0) return new Set();
    return new Set(parseIpAddrJson(result.stdout).flatMap((l) => l.addresses.map((a) => a.address)));
  };
  const isOurs = (a: OwnAddress) => ours.some((b) => b.interface === a.interface && b.address === a.address);
  const del = async (a: OwnAddress) => {
    const argv = ["ip", "-6", "addr", "del", `${a.address}/128`, "dev", a.interface];
    const result = await runner.run(argv);
    // Gone already (removed by hand, the interface deleted): what we wanted.
    if (result.exitCode !== 0 && (await onInterface(a.interface)).has(a.address))
      await runChecked(runner, argv);
  };

  return {
    records: records.pipe(filter((r): r is OwnAddress[] => r !== undefined)),
    async adopt() {
      try {
        await load();
        const kept: OwnAddress[] = [];
        for (const a of ours) if ((await onInterface(a.interface)).has(a.address)) kept.push(a);
        if (kept.length !== ours.length)
          log.info(
            { forgotten: ours.filter((a) => !kept.includes(a)) },
            "recorded addresses no longer present",
          );
        ours = kept;
        await save();
        if (kept.length > 0) log.info({ addresses: kept }, "adopted the addresses an earlier run added");
        return kept;
      } finally {
        // Whatever failed, the plan learns the record as it stands (it serves on no present address until then).
        if (records.value === undefined) records.next([...ours].sort(compareByDevice));
      }
    },
    async add(address) {
      const a = checked(address);
      if (isOurs(a)) {
        // Ours already (adopted, or a repeated step): only its owner may have changed.
        ours = [...ours.filter((b) => !(b.interface === a.interface && b.address === a.address)), a];
        await save();
        if ((await onInterface(a.interface)).has(a.address)) return;
      } else {
        if ((await onInterface(a.interface)).has(a.address))
          throw new Error(
            `${a.address} is already on ${a.interface} and was not added by sixgate: not touching it (remove it, or set another ipv6Suffix for ${a.device})`,
          );
        // Recorded before it exists: a crash in between leaves a record of an address that is absent (forgotten at
        // the next adopt), never an address of ours without a record.
        ours = [...ours, a];
        await save();
      }
      // A /128 without a prefix route: the prefix's route is the gateway's. preferred_lft 0: the gateway never picks
      // it as the source of its own connections, so removing it later cannot break one of them.
      const argv = ["ip", "-6", "addr", "add", `${a.address}/128`, "dev", a.interface, "noprefixroute"];
      try {
        await runChecked(runner, [...argv, "preferred_lft", "0"]);
      } catch (e) {
        ours = ours.filter((b) => !same(a, b));
        await save();
        throw e;
      }
    },
    async remove(address) {
      const a = checked(address);
      if (!isOurs(a)) return;
      await del(a);
      ours = ours.filter((b) => !(b.interface === a.interface && b.address === a.address));
      await save();
    },
    async removeAll() {
      if (ours.length === 0) await load();
      for (const a of [...ours]) {
        try {
          await del(a);
          ours = ours.filter((b) => !same(a, b));
        } catch (e) {
          log.error({ address: a, error: String(e) }, "cannot remove our address");
        }
      }
      await save();
    },
    async present(addresses) {
      const result: OwnAddress[] = [];
      for (const a of addresses) if ((await onInterface(a.interface)).has(a.address)) result.push(a);
      return result;
    },
  };
}
