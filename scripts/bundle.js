#!/usr/bin/env node
// Bundles the CLI into a self-contained build that runs with plain `node` and no node_modules (for routers with
// little flash): dist/sixgate.mjs, and beside it dist/chunks/, the code it loads only when used (the MQTT client
// only with mqtt: configured, doctor only for `sixgate doctor`, pino-pretty only on a terminal...). Code a command
// does not use is never read or parsed: the idle agent without MQTT is 9 MB smaller on Node 24 than with one file
// (bench/idle-memory.ts). Install both, side by side. Run after tsc: `npm run build` does both.
//
//   node scripts/bundle.js [--entry FILE] [--outfile FILE] [--metafile FILE] [--sourcemap]
//   (--sourcemap writes FILE.map beside each output, for bench/heap-by-module.ts; the shipped build has none)
//   (the chunks go to chunks/ in the outfile's directory; old ones there are removed first)
import { chmod, readdir, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { parseArgs } from "node:util";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    entry: { type: "string", default: join(root, "src/cli/main.ts") },
    outfile: { type: "string", default: join(root, "dist/sixgate.mjs") },
    metafile: { type: "string" },
    sourcemap: { type: "boolean", default: false },
  },
});

// CommonJS dependencies bundled into an ES module still call require() for node's built-ins, and some read
// __filename / __dirname. The banner gives them both, under names no bundled module declares.
const banner = [
  'import { createRequire as __sixgateCreateRequire } from "node:module";',
  'import { fileURLToPath as __sixgateFileURLToPath } from "node:url";',
  'import { dirname as __sixgateDirname } from "node:path";',
  "const require = __sixgateCreateRequire(import.meta.url);",
  "const __filename = __sixgateFileURLToPath(import.meta.url);",
  "const __dirname = __sixgateDirname(__filename);",
].join("\n");

/**
 * Resolves a package to its ES module build. rxjs's exports map gives node its CommonJS build, which esbuild
 * cannot tree-shake: the whole library (155 KB) would be parsed for the dozen operators sixgate uses.
 */
function esmBuildOf(name, path) {
  return {
    name: `esm-${name}`,
    setup(b) {
      b.onResolve({ filter: new RegExp(`^${name}$`) }, () => ({
        path: join(root, "node_modules", name, path),
      }));
    },
  };
}

const outdir = dirname(values.outfile);
const chunks = join(outdir, "chunks");
// Chunk names carry a content hash: without this, every rebuild would leave the previous ones behind.
await rm(chunks, { recursive: true, force: true });

const result = await build({
  entryPoints: { [basename(values.outfile, ".mjs")]: values.entry },
  outdir,
  outExtension: { ".js": ".mjs" },
  // Dynamic import() (src/cli/main.ts, run.ts, commands.ts, logger.ts) becomes a chunk loaded on first use.
  splitting: true,
  chunkNames: "chunks/[name]-[hash]",
  bundle: true,
  platform: "node",
  format: "esm",
  // The oldest supported Node line (src/cli/node-support.ts).
  target: "node22",
  minify: true,
  // Names stay readable in stack traces and logs.
  keepNames: true,
  legalComments: "eof",
  banner: { js: banner },
  // Optional native accelerators that their users load inside try/catch; plain JS is used without them.
  external: ["bufferutil", "utf-8-validate"],
  plugins: [esmBuildOf("rxjs", "dist/esm/index.js")],
  metafile: true,
  sourcemap: values.sourcemap ? "external" : false,
  logLevel: "warning",
});

await chmod(values.outfile, 0o755);
if (values.metafile) await writeFile(values.metafile, JSON.stringify(result.metafile));
const { size } = await stat(values.outfile);
let chunkBytes = 0;
const chunkFiles = (await readdir(chunks)).filter((file) => file.endsWith(".mjs"));
for (const file of chunkFiles) chunkBytes += (await stat(join(chunks, file))).size;
const rel = (path) => relative(process.cwd(), path) || path;
const kib = (bytes) => `${(bytes / 1024).toFixed(0)} KiB (${bytes} bytes)`;
process.stdout.write(`${rel(values.outfile)}: ${kib(size)}\n`);
process.stdout.write(`${rel(chunks)}/: ${kib(chunkBytes)} in ${chunkFiles.length} files\n`);
