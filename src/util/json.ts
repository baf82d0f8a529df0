/** JSON.parse that returns undefined instead of throwing, for input we validate next anyway. */
export function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
