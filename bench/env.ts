// Settings the benches take from the environment (BENCH_RUNS, BENCH_TRIALS...).

/** The integer in environment variable `name`, else `fallback`; throws naming the variable when it is outside min..max. */
export function intEnv(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${name} must be an integer ${min}..${max}`);
  return n;
}
