import type { Logger } from "pino";
import type { Bus } from "./bus/bus.ts";
import type { ConfigSchema } from "./config/config-schema.ts";

export type Stop = () => Promise<void>;

export interface DaemonContext<C> {
  config: C;
  bus: Bus;
  log: Logger;
  /** Aborted when the daemon is asked to stop. */
  signal: AbortSignal;
  /** This host's name, as it appears in every message's source. */
  host: string;
  /**
   * Tells people where to reach something this daemon serves (a listener, a
   * page, /metrics): logged, and printed by `deploykit up`.
   */
  announce(what: string, url: string): void;
}

export interface Daemon<C> {
  /** Also the systemd unit, the log name and the envelope source. */
  name: string;
  description: string;
  config: ConfigSchema<C>;
  /** false only for the broker, which is the bus: it gets no bus connection (its `bus` throws on use). */
  usesBus?: boolean;
  start(context: DaemonContext<C>): Promise<Stop>;
}

// The list of daemons is heterogenous in C; this is the type code uses to hold any of them.
// biome-ignore lint/suspicious/noExplicitAny: each daemon checks its own config type
export type AnyDaemon = Daemon<any>;
