// The bundled build: dist/sixgate.mjs and its chunks/ must run with plain node from a directory with nothing else
// in it, and `sixgate run` must not load code it does not use (the MQTT client, doctor, pino-pretty).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");

test("the bundle runs alone: --version, plan, and a bad config exits 78", { timeout: 120000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-bundle-"));
  try {
    const outfile = join(dir, "sixgate.mjs");
    const built = await run(process.execPath, [join(ROOT, "scripts/bundle.js"), "--outfile", outfile], {
      cwd: dir,
    });
    assert.match(built.stdout, /sixgate\.mjs: \d+ KiB/);
    let size = (await stat(outfile)).size;
    for (const chunk of await readdir(join(dir, "chunks")))
      size += (await stat(join(dir, "chunks", chunk))).size;
    // A budget, so that a dependency that suddenly doubles the build is noticed.
    assert.ok(size < 3 * 1024 * 1024, `bundle is ${size} bytes`);

    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", NODE_PATH: "" };
    const version = await run(process.execPath, ["sixgate.mjs", "--version"], { cwd: dir, env });
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);

    await writeFile(
      join(dir, "config.yaml"),
      [
        "wan: { interface: lo }",
        "lan: { interface: lo, address: 127.0.0.1 }",
        `device: { address: 192.0.2.2, leases: ${join(dir, "leases")} }`,
        "ports: [{ listen: 8080, target: 80 }]",
        `runtimeDir: ${join(dir, "run")}`,
        "",
      ].join("\n"),
    );
    const plan = await run(process.execPath, ["sixgate.mjs", "plan", "--config", "config.yaml"], {
      cwd: dir,
      env,
    });
    assert.match(plan.stdout, /table ip sixgate/);

    await writeFile(join(dir, "bad.yaml"), "wan: { interface: 'no good' }\n");
    const bad = await run(process.execPath, ["sixgate.mjs", "plan", "--config", "bad.yaml"], {
      cwd: dir,
      env,
    }).then(
      () => assert.fail("a bad config must fail"),
      (e: unknown) => e as { code: number; stderr: string },
    );
    assert.equal(bad.code, 78);
    assert.match(bad.stderr, /wan\.interface/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** esbuild's metafile, the part read here: each output file, what it bundles and what it imports. */
interface Metafile {
  outputs: Record<
    string,
    {
      entryPoint?: string;
      inputs: Record<string, unknown>;
      imports: { path: string; kind: string; external?: boolean }[];
    }
  >;
}

/** What node reads statically from some of the bundle's entries: the output files, their inputs, the externals. */
interface StaticClosure {
  /** Output files, as esbuild names them (relative to this working directory). */
  files: string[];
  inputs: string[];
  external: Set<string>;
}

/** Bundles into a scratch directory, hands `use` esbuild's outputs and the directory, then removes it. */
async function withBundle(use: (outputs: Metafile["outputs"], dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "sixgate-bundle-"));
  try {
    const metafile = join(dir, "meta.json");
    await run(process.execPath, [
      join(ROOT, "scripts/bundle.js"),
      "--outfile",
      join(dir, "sixgate.mjs"),
      "--metafile",
      metafile,
    ]);
    const { outputs } = JSON.parse(await readFile(metafile, "utf8")) as Metafile;
    await use(outputs, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Bundles, and hands `use` the static closure of `entries`. */
function withStaticClosure(entries: string[], use: (c: StaticClosure) => Promise<void>): Promise<void> {
  return withBundle(async (outputs) => {
    const outputOf = (entry: string) => Object.keys(outputs).find((k) => outputs[k]?.entryPoint === entry);
    const loaded = new Set<string>();
    const external = new Set<string>();
    const pending = entries.map((entry) => {
      const file = outputOf(entry);
      assert.ok(file !== undefined, `${entry} is an entry or chunk of its own`);
      return file;
    });
    for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
      if (loaded.has(file)) continue;
      loaded.add(file);
      for (const i of outputs[file]?.imports ?? []) {
        if (i.external === true) external.add(i.path);
        else if (i.kind === "import-statement") pending.push(i.path);
      }
    }
    const inputs = [...loaded].flatMap((file) => Object.keys(outputs[file]?.inputs ?? {}));
    await use({ files: [...loaded], inputs, external });
  });
}

test(
  "sixgate run without MQTT loads neither the MQTT client, doctor nor pino-pretty",
  { timeout: 120000 },
  () =>
    // What node reads for `run`: the entry, the run and logger chunks, and every file they import statically.
    withStaticClosure(["src/cli/main.ts", "src/cli/run.ts", "src/cli/logger.ts"], ({ inputs }) => {
      assert.ok(inputs.includes("src/agent.ts"), "the agent is loaded (the closure is not empty)");
      const unused = inputs.filter((i) =>
        /(^|\/)node_modules\/(mqtt|mqtt-packet|ws|pino-pretty)\/|^src\/doctor\/|^src\/mqtt\/(client|index)\.ts$/.test(
          i,
        ),
      );
      assert.deepEqual(unused, []);
      return Promise.resolve();
    }),
);

test(
  "sixgate run with MQTT over mqtt:// loads no transport but TCP and TLS, no browser shims and no node:crypto",
  { timeout: 120000 },
  () =>
    // What node reads for `run` with mqtt: configured: as above, and the MQTT chunk with what it imports.
    withStaticClosure(
      ["src/cli/main.ts", "src/cli/run.ts", "src/cli/logger.ts", "src/mqtt/index.ts"],
      async ({ files, inputs, external }) => {
        assert.ok(
          inputs.some((i) => /node_modules\/mqtt\/build\/lib\/client\.js$/.test(i)),
          "the client is in",
        );
        const unused = inputs.filter((i) =>
          /node_modules\/(ws|socks|ip-address|smart-buffer|readable-stream|debug|worker-timers)\/|node_modules\/mqtt\/build\/lib\/connect\/(index|ws|wx|ali|socks)\.js$/.test(
            i,
          ),
        );
        assert.deepEqual(unused, []);
        // node:crypto costs about 4 MiB of RSS; only TLS (mqtts://) may load it, through node:tls.
        const texts = await Promise.all(
          // Output paths are relative to the bundler's working directory, which is ours.
          files.map((file) => readFile(resolve(file), "utf8")),
        );
        assert.deepEqual(
          [...external, ...texts.flatMap((text) => text.match(/["'](node:)?crypto["']/g) ?? [])].filter((c) =>
            /crypto/.test(c),
          ),
          [],
        );
      },
    ),
);

test("the bundle imports node:util and node:fs by require(), not as ES modules", { timeout: 120000 }, () =>
  withBundle(async (outputs, dir) => {
    // An ES module import of these two reads all their exports, lazy ones included: 2 MiB of RSS on Node 24.
    const esmImports = Object.entries(outputs).flatMap(([file, output]) =>
      (output.imports as { path: string; kind: string; external?: boolean }[])
        .filter(
          (i) => i.external === true && i.kind === "import-statement" && /^(node:)?(util|fs)$/.test(i.path),
        )
        .map((i) => `${file}: ${i.path}`),
    );
    assert.deepEqual(esmImports, []);
    // The names are there, without node:fs's deprecated F_OK (a warning when read).
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", NODE_PATH: "" };
    const version = await run(process.execPath, ["--throw-deprecation", "sixgate.mjs", "--version"], {
      cwd: dir,
      env,
    });
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
  }),
);
