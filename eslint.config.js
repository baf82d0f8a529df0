import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "bench/results/**"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "@typescript-eslint/no-confusing-void-expression": ["error", { ignoreArrowShorthand: true }],
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["test", "it", "describe", "suite"] },
          ],
        },
      ],
    },
  },
  {
    // No shell, one runner: only src/effects/exec.ts starts processes, from an argv array with shell: false
    // (test/fuzz/no-shell.test.ts checks the same at run time). Before the core's block, whose stricter list
    // replaces this one there.
    files: ["src/**/*.ts"],
    ignores: ["src/effects/exec.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          paths: ["child_process", "node:child_process", "execa"].map((name) => ({
            name,
            message: "start processes only through the runner in src/effects/exec.ts (argv array, no shell)",
          })),
        },
      ],
    },
  },
  {
    // The core is pure: no I/O, no clock, nothing from effects or sources.
    files: ["src/core/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: ["node:*", "fs", "child_process", "**/effects/**", "**/sources/**", "execa", "rxjs"] },
      ],
      "no-restricted-globals": ["error", "Date", "setTimeout", "setInterval", "process"],
    },
  },
  {
    files: ["src/**/*.ts"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector: "Property[key.name='shell'][value.value!=false]",
          message: "a process is never started through a shell: shell must be false",
        },
        {
          selector: "ImportDeclaration[source.value='zod'] > ImportSpecifier",
          message: 'import * as z from "zod": a named import bundles all of zod\'s locales (370 KB)',
        },
      ],
    },
  },
  {
    files: ["**/*.js"],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
