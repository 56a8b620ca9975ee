import { Writable } from "node:stream";
import pino, { type Logger } from "pino";

/** A real pino logger whose JSON lines a test can read back. */
export function captureLog(level = "debug"): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { log: pino({ level }, stream), lines };
}
