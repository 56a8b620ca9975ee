import { type Bus, InvalidMessageError } from "../bus/bus.ts";
import type { Envelope, TopicName } from "../messages/index.ts";
import { type FlushResult, flushSpool } from "./flush-spool.ts";
import { sendEnvelope } from "./send-envelope.ts";
import type { SpoolDir } from "./spool-dir.ts";

export interface Outgoing {
  topic: TopicName;
  /** Built with makeEnvelope before any attempt, so a spooled copy keeps the id already printed or logged. */
  envelope: Envelope;
}

export interface PublishOrSpoolOptions {
  /** How long to wait for the broker: for the connection, and again for each confirmation. */
  timeoutMs: number;
  /** Absent: nothing is spooled, and what cannot be published is reported as failed. */
  spool?: SpoolDir;
}

export interface PublishOrSpoolResult {
  published: Envelope[];
  spooled: { envelope: Envelope; path: string }[];
  /** Neither published nor spooled. */
  failed: { envelope: Envelope; error: Error }[];
  /** What the spool flush before publishing did (absent without a spool or a bus). */
  flush?: FlushResult;
  /** Why the bus could not take the messages, when it could not. */
  busError?: Error;
}

/**
 * Publishes messages in order; first delivers what an earlier run spooled
 * (oldest first), so messages reach the bus roughly in the order they were
 * made. Once the bus fails, the rest are written to the spool rather than
 * tried again, so a dead broker costs the caller one timeout, not one per
 * message. Only an invalid message throws (InvalidMessageError): that is a bug,
 * and spooling it would only move it to bad/ later.
 */
export async function publishOrSpool(bus: Bus, messages: readonly Outgoing[], options: PublishOrSpoolOptions): Promise<PublishOrSpoolResult> {
  const result: PublishOrSpoolResult = { published: [], spooled: [], failed: [] };
  const { spool, timeoutMs } = options;
  try {
    await bus.connected(timeoutMs);
  } catch (err) {
    result.busError = err as Error;
  }
  if (!result.busError && spool) {
    result.flush = await flushSpool(bus, spool, { timeoutMs, stopAt: Date.now() + timeoutMs });
    result.busError = result.flush.error;
  }
  for (const message of messages) {
    if (!result.busError) {
      try {
        await sendEnvelope(bus, message.topic, message.envelope, timeoutMs);
        result.published.push(message.envelope);
        continue;
      } catch (err) {
        if (err instanceof InvalidMessageError) throw err;
        result.busError = err as Error;
      }
    }
    const busError = result.busError as Error;
    if (!spool) {
      result.failed.push({ envelope: message.envelope, error: busError });
      continue;
    }
    try {
      const path = spool.write({ topic: message.topic, envelope: message.envelope, reason: busError.message });
      result.spooled.push({ envelope: message.envelope, path });
    } catch (err) {
      result.failed.push({ envelope: message.envelope, error: err as Error });
    }
  }
  return result;
}
