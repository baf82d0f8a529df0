#!/usr/bin/env node
// Bundles the CLI into one self-contained file, dist/sixgate.mjs, that runs with plain `node` and no node_modules
// (for routers with little flash). Run after tsc: `npm run build` does both.
//
//   node scripts/bundle.js [--entry FILE] [--outfile FILE] [--metafile FILE]
import { chmod, stat, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
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

const result = await build({
  entryPoints: [values.entry],
  outfile: values.outfile,
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
  metafile: true,
  logLevel: "warning",
});

await chmod(values.outfile, 0o755);
if (values.metafile) await writeFile(values.metafile, JSON.stringify(result.metafile));
const { size } = await stat(values.outfile);
const rel = relative(process.cwd(), values.outfile) || values.outfile;
process.stdout.write(`${rel}: ${(size / 1024).toFixed(0)} KiB (${size} bytes)\n`);
