import pino, { type Logger } from "pino";
import pretty from "pino-pretty";

export interface LoggerOptions {
  name: string;
  level: string;
  format: string;
  /** Where lines go; stdout by default (journald reads it). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
}

/** pino JSON for journald and log shippers; pretty lines when a person is watching a terminal. */
export function createLogger(options: LoggerOptions): Logger {
  const stream = options.stream ?? process.stdout;
  const usePretty = options.format === "pretty" || (options.format === "auto" && stream.isTTY === true);
  const base = { name: options.name, level: options.level, base: { pid: process.pid, name: options.name } };
  if (usePretty) {
    return pino(base, pretty({ destination: stream, sync: true, colorize: stream.isTTY === true, ignore: "pid,hostname" }));
  }
  return pino(base, stream);
}
