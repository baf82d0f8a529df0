#!/usr/bin/env node
// sixgate's command line: run | plan | status | doctor | cleanup | notify.
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfigError, EXIT_CONFIG, loadConfig, runtimeDirAsWritten } from "../config/load.js";
import type { LevelWithSilent } from "pino";
import { VERSION } from "../version.js";
import { oldNodeWarning } from "./node-support.js";
import { installLastResort } from "./last-resort.js";
import { catchSignals } from "./signals.js";

// Commands are loaded on demand, so that `status` and `notify` start fast.
const commands = () => import("./commands.js");
const logger = async (level: LevelWithSilent) => (await import("./logger.js")).createLogger(level);

const USAGE = `usage: sixgate <command> [options]

commands:
  run      --config FILE            run the agent in the foreground
  plan     --config FILE            print the nft ruleset and socat command lines the current facts give
  status   [--json] [--config FILE] show the running agent's phase, addresses and listeners
  doctor   [--json] [--config FILE] walk the path hop by hop and say where it breaks (changes nothing)
  cleanup  --config FILE            remove every rule and process sixgate owns, and its retained MQTT
           [--keep-mqtt]            messages (Home Assistant forgets the device) unless --keep-mqtt
  notify   <kind> [key=value...]    tell a running agent to look again (what the hotplug/ hooks send)

  --version                         print the version`;

const COMMANDS = ["run", "plan", "status", "doctor", "cleanup", "notify"] as const;
type Command = (typeof COMMANDS)[number];
const isCommand = (name: string): name is Command => (COMMANDS as readonly string[]).includes(name);
/** Bad command-line usage (sysexits EX_USAGE). */
const EXIT_USAGE = 64;

const DEFAULT_CONFIG = "/etc/sixgate/config.yaml";
const DEFAULT_RUNTIME_DIR = "/run/sixgate";

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string", short: "c" },
      json: { type: "boolean", default: false },
      "keep-mqtt": { type: "boolean", default: false },
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
    return command === undefined && !values.help ? EXIT_USAGE : 0;
  }
  // Before any config is read: a mistyped command must not be answered with a complaint about the config file.
  if (!isCommand(command)) {
    process.stderr.write(`sixgate: unknown command "${command}"\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  if (command === "run") {
    // Plain stderr before anything else: it reaches the journal or logd even when the config is bad.
    const warning = oldNodeWarning(process.versions.node);
    if (warning !== undefined) process.stderr.write(`sixgate: warning: ${warning}\n`);
  }
  const configFile = values.config ?? DEFAULT_CONFIG;
  // status and notify only need the runtime directory: without a config file, the default one. An invalid file (an
  // edit the running agent refused to reload) must not hide the agent: its runtimeDir is read as written, if it can be.
  const runtimeDir = async () => {
    if (values.config === undefined && !existsSync(DEFAULT_CONFIG)) return DEFAULT_RUNTIME_DIR;
    try {
      return (await loadConfig(configFile)).runtimeDir;
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const dir = (await runtimeDirAsWritten(configFile)) ?? DEFAULT_RUNTIME_DIR;
      process.stderr.write(
        `sixgate: warning: invalid config ${configFile}: ${e.problems.join("; ")}; looking for the agent in runtimeDir ${dir}\n`,
      );
      return dir;
    }
  };
  if (command === "status") return (await commands()).statusCommand(await runtimeDir(), values.json);
  if (command === "notify") {
    const { notifyCommand } = await import("./notify.js");
    return notifyCommand(await runtimeDir(), positionals[1], positionals.slice(2));
  }
  // The agent's signals are caught before its config is even read (see signals.ts).
  const signals = command === "run" ? catchSignals() : undefined;
  const config = await loadConfig(configFile);
  switch (command) {
    case "run":
      return (await import("./run.js")).runCommand(
        configFile,
        config,
        await logger(config.logLevel),
        signals,
      );
    case "plan":
      return (await commands()).planCommand(config, await logger("warn"));
    case "cleanup":
      return (await commands()).cleanupCommand(config, await logger(config.logLevel), values["keep-mqtt"]);
    case "doctor":
      // Silent: doctor reports what it finds itself, and --json output must stay parseable on stdout.
      return (await import("./doctor.js")).doctorCommand(config, values.json, await logger("silent"));
  }
}

installLastResort();
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
