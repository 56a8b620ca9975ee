import { type Bus, InvalidMessageError } from "../bus/bus.ts";
import { sendEnvelope } from "./send-envelope.ts";
import type { SpoolDir } from "./spool-dir.ts";

export interface FlushOptions {
  /** Per message. */
  timeoutMs: number;
  /** Start no delivery after this time (ms since the epoch): a hook flushes what it can and leaves. */
  stopAt?: number;
}

export interface FlushResult {
  delivered: number;
  /** Files moved to bad/ on this run, with why. */
  bad: { path: string; reason: string }[];
  /** Files still waiting. */
  remaining: number;
  /** Another process is flushing this spool right now. */
  busy: boolean;
  /** Why delivery stopped early (the bus went away). */
  error?: Error;
}

/**
 * Delivers spooled messages oldest first, each under its original id, and
 * removes each file once the broker confirmed it. A file that cannot be read
 * or that no receiver would accept goes to bad/ (never deleted, never retried);
 * the first delivery failure stops the flush and leaves the rest for later.
 */
export async function flushSpool(bus: Bus, spool: SpoolDir, options: FlushOptions): Promise<FlushResult> {
  const result: FlushResult = { delivered: 0, bad: [], remaining: 0, busy: false };
  const entries = spool.list();
  if (entries.length === 0) return result;
  const release = spool.lock();
  if (!release) return { ...result, busy: true, remaining: entries.length };
  try {
    // Listed again under the lock: a flush that just finished may have delivered some.
    const locked = spool.list();
    for (const [index, entry] of locked.entries()) {
      if (options.stopAt !== undefined && Date.now() >= options.stopAt) {
        result.remaining = locked.length - index;
        break;
      }
      const read = spool.read(entry);
      if (!read.ok) {
        result.bad.push({ path: spool.moveAside(entry, read.reason), reason: read.reason });
        continue;
      }
      try {
        await sendEnvelope(bus, read.message.topic, read.message.envelope, options.timeoutMs);
        spool.remove(entry);
        result.delivered++;
      } catch (err) {
        if (err instanceof InvalidMessageError) {
          result.bad.push({ path: spool.moveAside(entry, err.message), reason: err.message });
        } else {
          result.error = err as Error;
          result.remaining = locked.length - index;
          break;
        }
      }
    }
  } finally {
    release();
  }
  return result;
}
