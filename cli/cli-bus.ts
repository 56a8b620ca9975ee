import type { Bus } from "../shared/bus/bus.ts";
import { busFromConfig } from "../shared/bus/bus-from-config.ts";
import { readConfig } from "../shared/config/read-config.ts";
import { createLogger } from "../shared/create-logger.ts";
import { configSections } from "../shared/run-daemon.ts";
import { daemons } from "../daemons/index.ts";

export interface BusArgs {
  config?: string;
  bus?: string;
}

/** A bus for a short-lived command: config file and environment, `--bus` on top; logs go to stderr so stdout stays data. */
export function cliBus(args: BusArgs, component = "cli"): Bus {
  const { values } = readConfig(configSections(daemons), { file: args.config });
  const bus = { ...(values.bus as Parameters<typeof busFromConfig>[0]) };
  if (args.bus) bus.url = args.bus;
  const logValues = values.log as { level: string; format: string };
  // A one-shot command has no use for the daemons' info lines (connected, started); they would bury its output.
  const level = logValues.level === "info" ? "warn" : logValues.level;
  const log = createLogger({ name: "deploykit", level, format: logValues.format, stream: process.stderr });
  return busFromConfig(bus, component, log);
}
