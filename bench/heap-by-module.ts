// Where the idle agent's heap goes, by module. Builds the bundle with source maps into a scratch directory, runs
// the agent idle in the lab (Node 24 by default, shipped flags; without and with MQTT), takes a heap snapshot with
// node's own --heapsnapshot-signal (no inspector), and attributes:
// - every function's code (closure, shared function info, bytecode, constant pool, scope info, feedback) to the
//   module its source position maps to (source maps of the chunks; node's built-ins as "node:internal");
// - the source text V8 keeps for each loaded script, split by module with the bundler's metafile.
// Objects the modules create (zod schemas, rxjs subjects, ...) are not attributed: the snapshot does not say
// which module allocated them; they are in "other" by node type. Prints JSON, writes
// bench/results/heap-by-module.json.
//
//   node --import tsx bench/heap-by-module.ts          BENCH_NODE_LINES=22 for another line
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { SourceMap, type SourceMapPayload } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createLab, sleep, waitFor, type Lab } from "../test/lab/lab.js";
import {
  ensureBroker,
  nodeLines,
  ROOT,
  rssKiB,
  SHIPPED_FLAGS,
  startIdleAgent,
  stopIdleAgent,
} from "./memory-lab.js";

/** The parts of a .heapsnapshot file read here (the format V8's HeapSnapshotGenerator writes). */
interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  locations: number[];
  strings: string[];
}

interface Metafile {
  outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
}

/** node_modules/<package> (scoped: @scope/name), src/<dir>/ or src/<file> for sixgate's own code. */
export function moduleOf(source: string): string {
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source);
  if (nm?.[1] !== undefined) return nm[1];
  const src = /(?:^|\/)src\/([^/]+)(\/)?/.exec(source);
  if (src?.[1] !== undefined) return src[2] === undefined ? `src/${src[1]}` : `src/${src[1]}/`;
  return source;
}

function attribute(snapshotFile: string, buildDir: string, meta: Metafile) {
  const s = JSON.parse(readFileSync(snapshotFile, "utf8")) as Snapshot;
  const { meta: m } = s.snapshot;
  const NF = m.node_fields.length;
  const EF = m.edge_fields.length;
  const [types] = m.node_types;
  const [edgeTypes] = m.edge_types;
  const N = s.nodes;
  const E = s.edges;
  const count = N.length / NF;
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += (N[i * NF + 4] ?? 0) * EF;
  }
  firstEdge[count] = E.length;
  const type = (off: number) => types[N[off] ?? 0] ?? "?";
  const name = (off: number) => s.strings[N[off + 1] ?? 0] ?? "";
  const size = (off: number) => N[off + 3] ?? 0;
  function* edges(off: number): Generator<[kind: string, label: string, to: number]> {
    const node = off / NF;
    for (let e = firstEdge[node] ?? 0; e < (firstEdge[node + 1] ?? 0); e += EF) {
      const kind = edgeTypes[E[e] ?? 0] ?? "?";
      const label =
        kind === "element" || kind === "hidden" ? String(E[e + 1]) : (s.strings[E[e + 1] ?? 0] ?? "");
      yield [kind, label, E[e + 2] ?? 0];
    }
  }
  const edge = (off: number, label: string) => {
    for (const [, l, to] of edges(off)) if (l === label) return to;
    return undefined;
  };

  // Each chunk's source map, by the script URL V8 records.
  const maps = new Map<string, SourceMap>();
  const mapOf = (url: string) => {
    if (!url.startsWith("file://")) return undefined;
    if (!maps.has(url)) {
      const payload = JSON.parse(readFileSync(`${fileURLToPath(url)}.map`, "utf8")) as SourceMapPayload;
      maps.set(url, new SourceMap(payload));
    }
    return maps.get(url);
  };

  const code = new Map<string, { functions: number; bytes: number }>();
  const owned = new Set<number>();
  const scriptSources = new Map<string, number>();
  const L = s.locations;
  for (let i = 0; i < L.length; i += 4) {
    const closure = L[i] ?? 0;
    if (type(closure) !== "closure") continue;
    const shared = edge(closure, "shared");
    const script = shared === undefined ? undefined : edge(shared, "script");
    const url = script === undefined ? "" : name(script);
    let module = "node:internal";
    if (url.startsWith("file://")) {
      const source = script === undefined ? undefined : edge(script, "source");
      if (source !== undefined) scriptSources.set(url, size(source));
      const entry = mapOf(url)?.findEntry(L[i + 2] ?? 0, L[i + 3] ?? 0);
      module = entry !== undefined && "originalSource" in entry ? moduleOf(entry.originalSource) : url;
    }
    // The closure and the code structures only it reaches (shared info, bytecode, constant pool, feedback).
    let bytes = 0;
    const queue: [number, number][] = [[closure, 0]];
    while (queue.length > 0) {
      const [off, depth] = queue.pop() ?? [0, 0];
      if (owned.has(off)) continue;
      owned.add(off);
      bytes += size(off);
      if (depth >= 3) continue;
      for (const [kind, label, to] of edges(off)) {
        if (kind !== "internal" && kind !== "hidden") continue;
        if (label === "script" || label === "context" || label === "map") continue;
        if (type(to) === "code" || type(to) === "array") queue.push([to, depth + 1]);
      }
    }
    const entry = code.get(module) ?? { functions: 0, bytes: 0 };
    entry.functions++;
    entry.bytes += bytes;
    code.set(module, entry);
  }

  // Source text of the loaded chunks, by module (the metafile says which module's code each chunk holds).
  const source = new Map<string, number>();
  for (const [output, { inputs }] of Object.entries(meta.outputs)) {
    if (!scriptSources.has(pathToFileURL(join(buildDir, output)).href)) continue;
    for (const [input, { bytesInOutput }] of Object.entries(inputs))
      source.set(moduleOf(input), (source.get(moduleOf(input)) ?? 0) + bytesInOutput);
  }

  const byType = new Map<string, number>();
  let total = 0;
  for (let off = 0; off < N.length; off += NF) {
    total += size(off);
    if (!owned.has(off)) byType.set(type(off), (byType.get(type(off)) ?? 0) + size(off));
  }
  const kib = (b: number) => Math.round(b / 1024);
  const modules = [...new Set([...code.keys(), ...source.keys()])]
    .map((module) => ({
      module,
      functions: code.get(module)?.functions ?? 0,
      codeKiB: kib(code.get(module)?.bytes ?? 0),
      sourceKiB: kib(source.get(module) ?? 0),
    }))
    .sort((a, b) => b.codeKiB + b.sourceKiB - (a.codeKiB + a.sourceKiB));
  return {
    liveHeapKiB: kib(total),
    loadedScriptsKiB: kib([...scriptSources.values()].reduce((a, b) => a + b, 0)),
    otherByNodeTypeKiB: Object.fromEntries(
      [...byType].sort((a, b) => b[1] - a[1]).map(([t, b]) => [t, kib(b)]),
    ),
    modules,
  };
}

async function snapshotOf(lab: Lab, node: string, bundle: string, mqtt: boolean) {
  if (mqtt) await ensureBroker(lab);
  const dir = mkdtempSync(join(lab.dir, "snap-"));
  const agent = await startIdleAgent(lab, {
    name: `snap-${mqtt ? "mqtt" : "plain"}`,
    node,
    bundle,
    mqtt,
    setup: { flags: [...SHIPPED_FLAGS, "--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${dir}`] },
  });
  try {
    await sleep(5000);
    const rss = rssKiB(agent.proc.pid);
    process.kill(agent.proc.pid, "SIGUSR2");
    // Written synchronously by the agent: complete once the size stops changing.
    let last = -1;
    const file = await waitFor(
      () => {
        const name = readdirSync(dir).find((f) => f.endsWith(".heapsnapshot"));
        if (name === undefined) return undefined;
        const size = statSync(join(dir, name)).size;
        const done = size > 0 && size === last;
        last = size;
        return done ? join(dir, name) : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    return { rssKiB: rss, file };
  } finally {
    await stopIdleAgent(agent);
  }
}

async function main(): Promise<void> {
  const [line] = nodeLines(process.env.BENCH_NODE_LINES ?? "24").slice(-1);
  if (line === undefined) throw new Error("no node line");
  const [version, node] = line;
  const build = mkdtempSync(join(tmpdir(), "sixgate-heap-"));
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    node: version,
    flags: SHIPPED_FLAGS,
  };
  try {
    const bundle = join(build, "sixgate.mjs");
    const metaFile = join(build, "meta.json");
    // Run in the build directory: the metafile's output paths are relative to it.
    execFileSync(
      process.execPath,
      [join(ROOT, "scripts/bundle.js"), "--outfile", bundle, "--metafile", metaFile, "--sourcemap"],
      { cwd: build },
    );
    const meta = JSON.parse(readFileSync(metaFile, "utf8")) as Metafile;
    const lab = await createLab();
    try {
      for (const mqtt of [false, true]) {
        const { rssKiB: rss, file } = await snapshotOf(lab, node, bundle, mqtt);
        const key = mqtt ? "agentMqtt" : "agent";
        results[key] = { rssKiB: rss, ...attribute(file, build, meta) };
        process.stderr.write(`${key}: rss ${rss} KiB\n`);
      }
    } finally {
      await lab.destroy();
    }
  } finally {
    rmSync(build, { recursive: true, force: true });
  }
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  const text = JSON.stringify(results, null, 2);
  writeFileSync(new URL("./results/heap-by-module.json", import.meta.url), `${text}\n`);
  process.stdout.write(`${text}\nwritten to bench/results/heap-by-module.json\n`);
}

await main();
