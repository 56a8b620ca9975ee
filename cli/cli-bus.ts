import type { Bus } from "../shared/bus/bus.ts";
import { busFromConfig } from "../shared/bus/bus-from-config.ts";
import { readConfig } from "../shared/config/read-config.ts";
import { createLogger } from "../shared/create-logger.ts";
import { type AllConfig, configSections } from "../shared/run-daemon.ts";
import { daemons } from "../daemons/index.ts";

// Commands import this module inside their handlers, not at their top: it brings the bus transports
// and the logger, which --version, --help and the commands that only talk to the REST API never need.

export interface BusArgs {
  config?: string;
  bus?: string;
}

/** The whole configuration (file and environment) as a short-lived command sees it. */
export function cliConfig(args: BusArgs): AllConfig {
  return readConfig(configSections(daemons), { file: args.config }).values as AllConfig;
}

export interface CliBusOptions {
  /** Already read with cliConfig, so it is not read twice. */
  values?: AllConfig;
  /**
   * Log nothing below error level unless asked for debug or trace: a hook's
   * stderr goes to the person pushing, who gets one warning line at most.
   */
  quiet?: boolean;
}

/** A bus for a short-lived command: config file and environment, `--bus` on top; logs go to stderr so stdout stays data. */
export function cliBus(args: BusArgs, component = "cli", options: CliBusOptions = {}): Bus {
  const values = options.values ?? cliConfig(args);
  const bus = { ...values.bus };
  if (args.bus) bus.url = args.bus;
  const logValues = values.log;
  // A one-shot command has no use for the daemons' info lines (connected, started); they would bury its output.
  let level = logValues.level === "info" ? "warn" : logValues.level;
  if (options.quiet && !["debug", "trace"].includes(level)) level = "silent";
  const log = createLogger({ name: "deploykit", level, format: logValues.format, stream: process.stderr });
  return busFromConfig(bus, component, log);
}
