// Which Node.js lines sixgate supports. The oldest one is also what the bundle is built for (scripts/bundle.js
// target) and what package.json's engines field says; the test suite runs on every supported line.

/** The oldest Node.js release line that is still maintained upstream and that sixgate is tested on. */
export const OLDEST_SUPPORTED_NODE = 22;

/**
 * A one-line warning when `version` (as in process.versions.node, e.g. "20.19.0") is older than the oldest supported
 * line, otherwise undefined. An older Node is warned about, not refused: sixgate still runs on 20 today, but that
 * line gets no security fixes and is no longer tested.
 */
export function oldNodeWarning(version: string): string | undefined {
  const major = Number.parseInt(version, 10);
  if (!Number.isInteger(major) || major >= OLDEST_SUPPORTED_NODE) return undefined;
  return (
    `Node.js ${version} is older than ${OLDEST_SUPPORTED_NODE}, the oldest line sixgate supports; ` +
    `it runs, but that line gets no fixes and is not tested. Install Node.js ${OLDEST_SUPPORTED_NODE} or later ` +
    `(see docs/operations.md).`
  );
}
