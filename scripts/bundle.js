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

/**
 * Replaces modules the MQTT client loads but sixgate never runs by the smaller module named (or a stub), in the
 * bundle only (dist/cli/main.js with node_modules loads them as published). Each one, in node with our mqtt:// and
 * mqtts:// URLs:
 * - readable-stream: a copy of node's streams for browsers; node's own node:stream, which readable-stream itself
 *   uses when READABLE_STREAM=disable is set (node:net has it loaded already).
 * - worker-timers: mqtt's keepalive timers in browsers (lib/get-timer.js picks node's own timers in node).
 * - mqtt's SOCKS proxy code (lib/connect/socks.js, with socks, ip-address and smart-buffer): only mqtt's connect()
 *   sets a proxy (from MQTTJS_SOCKS_PROXY); src/mqtt/connection.ts builds the client without it.
 * - debug: mqtt.js's and mqtt-packet's tracing (DEBUG=mqttjs*), off unless that variable is set; a no-op here.
 * And for every command, in pino:
 * - thread-stream (with node:worker_threads): pino's transports, which sixgate does not use (src/cli/logger.ts
 *   gives pino a stream of its own); a stub that refuses.
 * - node:worker_threads in pino's lib/tools.js, read only for isMainThread: sixgate runs in the main thread.
 * - node:assert in sonic-boom (pino's stdout writer), which checks one invariant with it when it closes: a plain
 *   check that throws the same message.
 * bench/idle-memory.ts measures what this saves.
 */
function lighterModules() {
  const stubs = {
    "worker-timers":
      "module.exports = { setInterval: globalThis.setInterval, clearInterval: globalThis.clearInterval };",
    socks:
      'module.exports = { default: () => { throw new Error("SOCKS proxies are not supported"); }, __esModule: true };',
    debug:
      "const off = () => undefined; off.enabled = false; off.extend = () => off; module.exports = () => off;",
    "thread-stream":
      'module.exports = class ThreadStream { constructor() { throw new Error("pino transports are not in this build"); } };',
    worker_threads: "module.exports = { isMainThread: true };",
    assert: "module.exports = function assert(ok, message) { if (!ok) throw new Error(message); };",
  };
  return {
    name: "lighter-modules",
    setup(b) {
      b.onResolve({ filter: /^readable-stream$/ }, () => ({ path: "node:stream", external: true }));
      b.onResolve({ filter: /^(worker-timers|debug|thread-stream)$/ }, (args) => ({
        path: args.path,
        namespace: "stub",
      }));
      // These only for the one package named: elsewhere the module is what it says.
      const only = (name, dir) =>
        b.onResolve({ filter: new RegExp(`^${name}$`) }, (args) =>
          dir.test(args.resolveDir) ? { path: name, namespace: "stub" } : undefined,
        );
      only("assert", /[\\/]node_modules[\\/]sonic-boom$/);
      only("worker_threads", /[\\/]node_modules[\\/]pino[\\/]lib$/);
      b.onResolve({ filter: /^\.\/socks$/ }, (args) =>
        /[\\/]mqtt[\\/]build[\\/]lib[\\/]connect$/.test(args.resolveDir)
          ? { path: "socks", namespace: "stub" }
          : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: "stub" }, (args) => ({ contents: stubs[args.path], loader: "js" }));
    },
  };
}

/**
 * node:util and node:fs for ES module imports as a module that exports their values by name, read through the
 * banner's require(). Node gives an ES module import of a built-in a namespace built by reading every export, which
 * runs the lazy getters of these two: node:util's load its worker, diff and abort-signal parts (with
 * node:worker_threads), node:fs's its streams and node:fs/promises; esbuild's own interop for require() reads every
 * property descriptor, with the same effect. In an empty node 24, `import { parseArgs } from "node:util"` costs 2.5
 * MiB of RSS, require("node:util") 0.5. The names are those of the node that builds, less the getters of any line
 * from 20 to 26 (GETTERS: the lazy ones, and node:fs's F_OK ... X_OK, which warn of their deprecation when read):
 * importing one of those fails the build; read it from the module's default export instead.
 */
const GETTERS = {
  "node:util": ["transferableAbortSignal", "transferableAbortController", "aborted", "debounce", "throttle"],
  "node:fs": [
    ...["ReadStream", "WriteStream", "FileReadStream", "FileWriteStream", "Utf8Stream", "promises"],
    ...["F_OK", "R_OK", "W_OK", "X_OK"],
  ],
};
function builtinsWithoutLazyExports() {
  return {
    name: "builtins-without-lazy-exports",
    setup(b) {
      b.onResolve({ filter: /^(node:)?(util|fs)$/ }, (args) =>
        args.kind === "import-statement"
          ? { path: `node:${args.path.replace(/^node:/, "")}`, namespace: "builtin-values" }
          : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: "builtin-values" }, async (args) => {
        const { createRequire } = await import("node:module");
        const getters = new Set(GETTERS[args.path]);
        const names = Object.getOwnPropertyNames(createRequire(import.meta.url)(args.path)).filter(
          (name) => !getters.has(name) && name !== "default" && /^[A-Za-z_$][\w$]*$/.test(name),
        );
        const contents = [
          `const mod = require(${JSON.stringify(args.path)});`,
          "export default mod;",
          `export const { ${names.join(", ")} } = mod;`,
        ].join("\n");
        return { contents, loader: "js" };
      });
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
  plugins: [esmBuildOf("rxjs", "dist/esm/index.js"), lighterModules(), builtinsWithoutLazyExports()],
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
