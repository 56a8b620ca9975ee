import { type Bus, BusUnavailableError } from "../bus/bus.ts";
import type { Envelope, TopicName } from "../messages/index.ts";

/**
 * Publishes an envelope built earlier, unchanged (same id, time, source and
 * correlation id), waiting for the broker's receipt. A broker that accepted
 * the connection but never confirms must not hold a git push either: past
 * timeoutMs this rejects with BusUnavailableError, and the caller spools. The
 * message may still arrive; a later delivery of the spooled copy then carries
 * the same id, so a receiver can tell the two apart.
 */
export async function sendEnvelope(bus: Bus, topic: TopicName, envelope: Envelope, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new BusUnavailableError(`the broker did not confirm within ${timeoutMs} ms`)), timeoutMs);
  });
  const { id, time, source, correlationId, body } = envelope;
  try {
    await Promise.race([
      bus.publish(topic, body as never, { correlationId, envelope: { id, time, source }, confirm: true, timeoutMs }),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
