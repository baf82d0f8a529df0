// The last resort: a promise rejection nobody handled, or an exception nobody caught, is a bug in sixgate. Node's
// default would print it and exit 1 (or, for a rejection on some versions, only warn); here it is written to stderr
// (the journal, logd) with what it was, and the process exits with its own code, which docs/operations.md lists, so
// a service manager's log tells a bug from a bad configuration. The successor stops what this one left running.

/** EX_SOFTWARE (sysexits.h): an internal error. */
export const EXIT_INTERNAL = 70;

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
}

/** Installs the handlers for the whole process; call it first. */
export function installLastResort(): void {
  const fatal = (what: string) => (error: unknown) => {
    process.stderr.write(
      `sixgate: internal error (${what}), exiting with ${EXIT_INTERNAL}: ${describe(error)}\n`,
    );
    process.exit(EXIT_INTERNAL);
  };
  process.on("unhandledRejection", fatal("unhandled promise rejection"));
  process.on("uncaughtException", fatal("uncaught exception"));
}
