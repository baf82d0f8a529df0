#!/usr/bin/env node
// sixgate's command line: run | plan | status | cleanup.
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfigError, EXIT_CONFIG, loadConfig } from "../config/load.js";
import { createLogger } from "./logger.js";
import { notifyCommand } from "./notify.js";
import { runCommand } from "./run.js";
import { planCommand, statusCommand, cleanupCommand } from "./commands.js";
import { VERSION } from "../version.js";

const USAGE = `usage: sixgate <command> [options]

commands:
  run      --config FILE            run the agent in the foreground
  plan     --config FILE            print the nft ruleset and socat command lines the current facts give
  status   [--json] [--config FILE] show the running agent's phase, addresses and listeners
  cleanup  --config FILE            remove every rule and process sixgate owns
  notify   <kind> [key=value...]    tell a running agent to look again (used by the hotplug/ hooks)

  --version                         print the version`;

const DEFAULT_CONFIG = "/etc/sixgate/config.yaml";
const DEFAULT_RUNTIME_DIR = "/run/sixgate";

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string", short: "c" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
      version: { type: "boolean", default: false },
    },
  });
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const [command] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined && !values.help ? 64 : 0;
  }
  const configFile = values.config ?? DEFAULT_CONFIG;
  // status and notify only need the runtime directory: without a config file, the default one.
  const runtimeDir = async () =>
    values.config === undefined && !existsSync(DEFAULT_CONFIG)
      ? DEFAULT_RUNTIME_DIR
      : (await loadConfig(configFile)).runtimeDir;
  if (command === "status") return statusCommand(await runtimeDir(), values.json);
  if (command === "notify") return notifyCommand(await runtimeDir(), positionals[1], positionals.slice(2));
  const config = await loadConfig(configFile);
  switch (command) {
    case "run":
      return runCommand(configFile, config, createLogger(config.logLevel));
    case "plan":
      return planCommand(config, createLogger("warn"));
    case "cleanup":
      return cleanupCommand(config, createLogger(config.logLevel));
    default:
      process.stderr.write(`sixgate: unknown command "${command}"\n${USAGE}\n`);
      return 64;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    // Exit explicitly: open handles of a stopped agent must not keep the process alive.
    process.exit(code);
  },
  (e: unknown) => {
    if (e instanceof ConfigError) {
      process.stderr.write(`sixgate: ${e.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    process.stderr.write(`sixgate: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
