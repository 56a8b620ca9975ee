import type { Logger } from "pino";
import { busFromConfig, hostName } from "./bus/bus-from-config.ts";
import type { Bus } from "./bus/bus.ts";
import { noBus } from "./bus/no-bus.ts";
import { busConfig, dataConfig, hooksConfig, logConfig, spoolConfig } from "./config/common-config.ts";
import { ConfigError, type ConfigOf, readConfig, type Sections } from "./config/read-config.ts";
import { createLogger } from "./create-logger.ts";
import type { AnyDaemon, Stop } from "./daemon.ts";

/** The whole configuration file: shared sections plus one per daemon. */
export function configSections(daemons: readonly AnyDaemon[]): Sections {
  const sections: Sections = { bus: busConfig, log: logConfig, data: dataConfig, spool: spoolConfig, hooks: hooksConfig };
  for (const daemon of daemons) sections[daemon.name] = daemon.config;
  return sections;
}

export type SharedConfig = ConfigOf<{
  bus: typeof busConfig;
  log: typeof logConfig;
  data: typeof dataConfig;
  spool: typeof spoolConfig;
  hooks: typeof hooksConfig;
}>;
export type AllConfig = SharedConfig & Record<string, unknown>;

export interface RunningDaemon {
  name: string;
  bus: Bus;
  log: Logger;
  /** What the daemon announced: where to reach what it serves. */
  urls: { what: string; url: string }[];
  /** Stops the daemon, then drains and closes its bus connection. */
  stop(): Promise<void>;
}

/** Starts one daemon with its own logger and bus connection; used by runDaemon, `deploykit up` and tests. */
export async function startDaemon(daemon: AnyDaemon, values: AllConfig, parentLog?: Logger): Promise<RunningDaemon> {
  const log = parentLog
    ? parentLog.child({ daemon: daemon.name })
    : createLogger({ name: daemon.name, level: values.log.level, format: values.log.format });
  const bus = daemon.usesBus === false ? noBus(daemon.name) : busFromConfig(values.bus, daemon.name, log);
  bus.onState((change) => {
    if (change.state === "disconnected") log.debug({ url: change.url, err: change.error }, "bus disconnected");
  });
  const controller = new AbortController();
  const urls: RunningDaemon["urls"] = [];
  const announce = (what: string, url: string) => {
    urls.push({ what, url });
    log.info({ [what]: url }, `${what}: ${url}`);
  };
  let stopDaemon: Stop;
  try {
    stopDaemon = await daemon.start({ config: values[daemon.name], bus, log, signal: controller.signal, host: hostName(values.bus), announce });
  } catch (err) {
    await bus.close({ graceMs: 0 });
    throw err;
  }
  log.info({ bus: bus.description, host: hostName(values.bus) }, `${daemon.name} started`);
  let stopping: Promise<void> | undefined;
  return {
    name: daemon.name,
    bus,
    log,
    urls,
    stop: () => {
      stopping ??= (async () => {
        controller.abort();
        try {
          await stopDaemon();
        } finally {
          await bus.close({ graceMs: values.bus.drainTimeout });
          log.info(`${daemon.name} stopped`);
        }
      })();
      return stopping;
    },
  };
}

export interface RunOptions {
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Every daemon known, so a file holding sections for other daemons on this host is still valid. */
  all: readonly AnyDaemon[];
}

/**
 * Runs one daemon as a process: reads config, starts, and on SIGTERM/SIGINT
 * stops and drains for the grace period. The only place a daemon process exits.
 */
export async function runDaemon(daemon: AnyDaemon, options: RunOptions): Promise<never> {
  let running: RunningDaemon;
  try {
    const config = readConfig(configSections(options.all), { file: options.configFile, env: options.env });
    running = await startDaemon(daemon, config.values as AllConfig);
    running.log.info({ config: config.file ?? "(none: defaults and environment)" }, "configuration loaded");
  } catch (err) {
    exitBecause(err, `${daemon.name} could not start`);
  }
  return stopOnSignals(running.log, () => running.stop());
}

/** Prints why a process cannot go on, in one line, and exits: 78 for configuration, 1 otherwise. */
export function exitBecause(err: unknown, what: string): never {
  const message = err instanceof ConfigError ? err.message : `${what}: ${(err as Error).message ?? err}`;
  process.stderr.write(`${message}\n`);
  process.exit(err instanceof ConfigError ? 78 : 1);
}

/** Waits for SIGTERM or SIGINT, stops, and exits 0; a second signal exits at once. */
export function stopOnSignals(log: Logger, stop: () => Promise<void>): Promise<never> {
  return new Promise<never>(() => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn({ signal }, "second signal: exiting without draining");
        process.exit(1);
      }
      log.info({ signal }, "stopping");
      stop().then(
        () => process.exit(0),
        (err: unknown) => {
          log.error({ err }, "error while stopping");
          process.exit(1);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}
