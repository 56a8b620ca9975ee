import type { Logger } from "pino";
import { busFromConfig, hostName } from "./bus/bus-from-config.ts";
import type { Bus } from "./bus/bus.ts";
import { busConfig, logConfig } from "./config/common-config.ts";
import { ConfigError, type ConfigOf, readConfig, type Sections } from "./config/read-config.ts";
import { createLogger } from "./create-logger.ts";
import type { AnyDaemon, Stop } from "./daemon.ts";

/** The whole configuration file: shared sections plus one per daemon. */
export function configSections(daemons: readonly AnyDaemon[]): Sections {
  const sections: Sections = { bus: busConfig, log: logConfig };
  for (const daemon of daemons) sections[daemon.name] = daemon.config;
  return sections;
}

type Shared = ConfigOf<{ bus: typeof busConfig; log: typeof logConfig }>;

export interface RunningDaemon {
  bus: Bus;
  log: Logger;
  /** Stops the daemon, then drains and closes its bus connection. */
  stop(): Promise<void>;
}

/** Starts one daemon with its own logger and bus connection; used by runDaemon, `deploykit up` and tests. */
export async function startDaemon(daemon: AnyDaemon, values: Shared & Record<string, unknown>, parentLog?: Logger): Promise<RunningDaemon> {
  const log = parentLog
    ? parentLog.child({ daemon: daemon.name })
    : createLogger({ name: daemon.name, level: values.log.level, format: values.log.format });
  const bus = busFromConfig(values.bus, daemon.name, log);
  bus.onState((change) => {
    if (change.state === "disconnected") log.debug({ url: change.url, err: change.error }, "bus disconnected");
  });
  const controller = new AbortController();
  let stopDaemon: Stop;
  try {
    stopDaemon = await daemon.start({ config: values[daemon.name], bus, log, signal: controller.signal, host: hostName(values.bus) });
  } catch (err) {
    await bus.close({ graceMs: 0 });
    throw err;
  }
  log.info({ bus: bus.description, host: hostName(values.bus) }, `${daemon.name} started`);
  let stopping: Promise<void> | undefined;
  return {
    bus,
    log,
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
    running = await startDaemon(daemon, config.values as Shared & Record<string, unknown>);
    running.log.info({ config: config.file ?? "(none: defaults and environment)" }, "configuration loaded");
  } catch (err) {
    const message = err instanceof ConfigError ? err.message : `${daemon.name} could not start: ${(err as Error).message ?? err}`;
    process.stderr.write(`${message}\n`);
    process.exit(err instanceof ConfigError ? 78 : 1);
  }
  return new Promise<never>(() => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        running.log.warn({ signal }, "second signal: exiting without draining");
        process.exit(1);
      }
      running.log.info({ signal }, "stopping");
      running.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          running.log.error({ err }, "error while stopping");
          process.exit(1);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}
