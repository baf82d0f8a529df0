// Shared pieces of the property-based tests: run counts, a case counter for the report, and mutators that turn a
// valid sample into a near-valid one (random junk alone only ever exercises a parser's first check).
import fc from "fast-check";

/** Generated cases per property; FUZZ_RUNS overrides (e.g. 100000 for a long hunt, 200 while editing). */
export const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);

/** The part of node:test's TestContext used here. */
export interface Diagnostics {
  diagnostic(message: string): void;
}

/**
 * Runs `property` for RUNS generated cases and reports the count as a test diagnostic ("fuzz: N cases"), so the
 * figures can be quoted from the test output. A seed from FUZZ_SEED replays a failure fast-check printed.
 */
export function checkProperty<Ts extends [unknown, ...unknown[]]>(
  t: Diagnostics,
  name: string,
  arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => void,
): void {
  let cases = 0;
  const seed = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
  fc.assert(
    fc.property<Ts>(...arbitraries, (...args: Ts) => {
      cases++;
      predicate(...args);
    }),
    { numRuns: RUNS, ...(seed === undefined ? {} : { seed }) },
  );
  t.diagnostic(`fuzz: ${name}: ${cases} cases`);
}

/** Strings a parser should refuse wherever they appear: shell and control characters, huge, empty, odd unicode. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "a;b",
    "$(reboot)",
    "`id`",
    "x|y",
    "a\nb",
    "a\u0000b",
    "\u2028",
    "..",
    "-h",
    "--help",
    "x".repeat(300),
    "é",
    "👾",
    "0x50",
    "1e3",
    "NaN",
    "null",
    "{}",
  ),
  fc.string({ unit: "binary", maxLength: 40 }),
);

/** Any JSON value, plus numbers a schema for ports or counts must refuse. */
export const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  nastyString,
  fc.constantFrom(0, -1, 1.5, 65536, 2 ** 53, -0, 1e308, true, false, null, [], {}, [1], { a: 1 }),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.jsonValue({ maxDepth: 2 }),
);

export type Path = (string | number)[];

export interface Mutation {
  value: unknown;
  /** Where the change was made ([] = the whole value). */
  path: Path;
  kind: "replace" | "delete" | "add-key" | "wrap";
}

function paths(value: unknown, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (typeof value === "object" && value !== null)
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

function clone(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function apply(root: unknown, path: Path, kind: Mutation["kind"], junk: unknown, key: string): unknown {
  const edit = (v: unknown): unknown => {
    switch (kind) {
      case "replace":
        return junk;
      case "wrap":
        return [v];
      case "add-key":
        return typeof v === "object" && v !== null && !Array.isArray(v) ? { ...v, [key]: junk } : junk;
      case "delete":
        return undefined;
    }
  };
  if (path.length === 0) return edit(clone(root));
  const copy = clone(root) as Record<string | number, unknown>;
  let parent: Record<string | number, unknown> = copy;
  for (const step of path.slice(0, -1)) parent = parent[step] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  const next = edit(parent[last]);
  if (next === undefined) {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else Reflect.deleteProperty(parent, last);
  } else parent[last] = next;
  return copy;
}

/** One structural change to a valid JSON-like sample: a value replaced, deleted, wrapped, or an unknown key added. */
export function mutated(valid: fc.Arbitrary<unknown>): fc.Arbitrary<Mutation> {
  return fc
    .tuple(
      valid,
      fc.nat(),
      fc.constantFrom<Mutation["kind"]>("replace", "replace", "delete", "add-key", "wrap"),
      nastyValue,
      fc.oneof(fc.constantFrom("extra", "__proto__", "constructor", "port"), fc.string({ maxLength: 8 })),
    )
    .map(([value, pick, kind, junk, key]) => {
      const all = paths(value);
      const path = all[pick % all.length] ?? [];
      return { value: apply(value, path, kind, junk, key), path, kind };
    });
}

/** A few character-level edits (insert, delete, replace, duplicate) to a valid text. */
export function mutatedText(valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const edit = fc.tuple(
    fc.constantFrom("insert", "delete", "replace", "duplicate"),
    fc.nat(),
    fc.nat({ max: 12 }),
    fc.oneof(
      fc.constantFrom(
        ":",
        " ",
        "\n",
        "\t",
        "-",
        "#",
        "{",
        "}",
        "[",
        "]",
        '"',
        "'",
        "0",
        "9",
        ",",
        "&",
        "*",
        "!",
      ),
      fc.string({ unit: "binary", maxLength: 4 }),
    ),
  );
  return fc.tuple(valid, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([text, edits]) => {
    let s = text;
    for (const [kind, at, len, chars] of edits) {
      const i = s.length === 0 ? 0 : at % (s.length + 1);
      if (kind === "insert") s = s.slice(0, i) + chars + s.slice(i);
      else if (kind === "delete") s = s.slice(0, i) + s.slice(i + len);
      else if (kind === "replace") s = s.slice(0, i) + chars + s.slice(i + chars.length);
      else s = s.slice(0, i) + s.slice(i, i + len) + s.slice(i);
    }
    return s;
  });
}

/** Random text of every kind: printable, binary, and JSON-looking. */
export const anyText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: "binary", maxLength: 200 }),
  fc.json({ maxDepth: 3 }),
);

/** The dotted field path as error messages write it (`args.ports.0.listen`). */
export const dotted = (path: Path): string => path.map(String).join(".");
