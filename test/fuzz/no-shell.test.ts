// No code path reaches a shell. Statically: only src/effects/exec.ts may start processes, and nothing in src/ asks
// for a shell or for child_process's shell-running forms (eslint.config.js enforces the imports too). At run
// time: the runner hands argv to the program untouched, shell metacharacters and all.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import ts from "typescript";
import { pino } from "pino";
import { createRunner } from "../../src/effects/exec.js";

const SRC = fileURLToPath(new URL("../../src", import.meta.url));
const RUNNER = "effects/exec.ts";

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

const PROCESS_MODULES = new Set(["child_process", "node:child_process", "execa"]);

/**
 * What a source file does that could reach a shell: imports a process-starting module (child_process, execa; by
 * import, dynamic import or require) or names any `shell` property other than `shell: false`. The runner may
 * import node:child_process, but only its `spawn` (not `exec` or `execSync`, which run a shell, nor the rest).
 */
function shellProblems(fileName: string, text: string, isRunner = false): string[] {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const problems: string[] = [];
  const at = (node: ts.Node, what: string) =>
    problems.push(`${fileName}:${file.getLineAndCharacterOfPosition(node.getStart()).line + 1} ${what}`);
  const moduleUse = (node: ts.Node, name: string) => {
    if (PROCESS_MODULES.has(name) && !isRunner) at(node, `imports ${name}`);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const name = node.moduleSpecifier.text;
      moduleUse(node, name);
      if (isRunner && PROCESS_MODULES.has(name)) {
        const bindings = node.importClause?.namedBindings;
        const named = bindings !== undefined && ts.isNamedImports(bindings) ? bindings.elements : [];
        if (
          name !== "node:child_process" ||
          node.importClause?.name !== undefined ||
          bindings === undefined ||
          !ts.isNamedImports(bindings)
        ) {
          at(node, `imports ${name} other than by name`);
        }
        for (const e of named)
          if (name === "node:child_process" && !e.isTypeOnly && e.name.text !== "spawn")
            at(e, `imports ${e.name.text} from ${name}`);
      }
    }
    if (ts.isCallExpression(node) && node.arguments.length > 0) {
      const [first] = node.arguments;
      const callee = node.expression;
      const loads =
        callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === "require");
      if (loads && first !== undefined && ts.isStringLiteralLike(first)) moduleUse(node, first.text);
    }
    if (
      (ts.isPropertyAssignment(node) || ts.isShorthandPropertyAssignment(node)) &&
      node.name.getText(file) === "shell"
    ) {
      const value = ts.isPropertyAssignment(node) ? node.initializer : undefined;
      if (value?.kind !== ts.SyntaxKind.FalseKeyword)
        at(node, `sets shell to ${value?.getText(file) ?? "a variable"}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return problems;
}

test("no shell: only the runner starts processes, and nothing in src/ asks for a shell", () => {
  const files = sources(SRC);
  assert.ok(files.length > 50, `only ${files.length} source files found under ${SRC}`);
  const problems = files.flatMap((f) =>
    shellProblems(`src/${relative(SRC, f)}`, readFileSync(f, "utf8"), relative(SRC, f) === RUNNER),
  );
  assert.deepEqual(problems, []);
  // The runner itself passes shell: false on both of its paths.
  const runner = readFileSync(join(SRC, RUNNER), "utf8");
  assert.equal(runner.match(/\bshell: false\b/g)?.length, 2, "run() and spawn() both say shell: false");
});

test("no shell: the scan sees each kind of violation (it is not dead)", () => {
  const bad = [
    'import { exec } from "node:child_process";',
    'import * as cp from "child_process";',
    'const cp = await import("node:child_process");',
    'const cp = require("child_process");',
    'import { execa } from "execa";',
    "execa(file, args, { shell: true });",
    'execa(file, args, { shell: "/bin/sh" });',
    "const shell = true; execa(file, args, { shell });",
  ];
  for (const text of bad) assert.equal(shellProblems("x.ts", text).length, 1, text);
  for (const text of [
    'import { exec } from "node:child_process";',
    'import { execSync } from "node:child_process";',
    'import * as cp from "node:child_process";',
    'import cp from "node:child_process";',
    'import { spawn } from "child_process";',
    'import { execa } from "execa";',
  ]) {
    assert.equal(shellProblems("exec.ts", text, true).length, 1, text);
  }
  assert.deepEqual(
    shellProblems(
      "exec.ts",
      'import { spawn } from "node:child_process"; spawn(f, a, { shell: false });',
      true,
    ),
    [],
  );
});

const log = pino({ level: "silent" });
/** Arguments a shell would expand, split, redirect or run. */
const SHELLISH = [
  "a;b",
  "$(id)",
  "`id`",
  "*",
  "x|y",
  "a&&b",
  "> /tmp/x",
  "$HOME",
  "'q'",
  '"q"',
  "a\\b",
  "~",
  "-n",
  "",
  "a b",
];
const shellish = fc.oneof(
  fc.constantFrom(...SHELLISH),
  fc.string({ maxLength: 20 }).filter((s) => !s.includes("\0")),
);

test("no shell: the runner's argv arrives literally (run and spawn)", async (t) => {
  const runner = createRunner(log, 5000);
  const argv = SHELLISH;
  const ran = await runner.run(["printf", "%s\\0", ...argv]);
  assert.equal(ran.exitCode, 0, ran.stderr);
  assert.deepEqual(ran.stdout.split("\0").slice(0, -1), argv);

  const lines: string[] = [];
  const child = runner.spawn(["printf", "%s\\n", "$(id)", "a;b", "*"], {
    onStdoutLine: (l) => lines.push(l),
  });
  await child.exited;
  assert.deepEqual(lines, ["$(id)", "a;b", "*"]);

  // Generated argv, fewer cases: each one is a process.
  let cases = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(shellish, { minLength: 1, maxLength: 6 }), async (args) => {
      cases++;
      const r = await runner.run(["printf", "%s\\0", ...args]);
      assert.deepEqual(r.stdout.split("\0").slice(0, -1), args);
    }),
    { numRuns: 30 },
  );
  t.diagnostic(`fuzz: runner argv, generated: ${cases} processes`);
});
