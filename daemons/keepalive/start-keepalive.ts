import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { topicDef } from "../../shared/messages/index.ts";
import type { DaemonContext, Stop } from "../../shared/daemon.ts";
import type { TopicName } from "../../shared/messages/topics.ts";
import type { KeepaliveConfig } from "./config.ts";

/** keepalive's start, loaded only when it runs: other CLI commands are spared the message schemas. */
export async function startKeepalive({ config, bus, log, host }: DaemonContext<KeepaliveConfig>): Promise<Stop> {
  const topics = config.topics.map((topic) => {
    if (topicDef(topic)?.type !== "keepalive.v1") {
      throw new Error(`keepalive.topics: "${topic}" is not a keepalive topic; use keepalive or keepalive.NAME`);
    }
    return topic as TopicName & `keepalive${string}`;
  });
  const pending = new Map<string, { topic: string; sentAt: number }>();
  let seq = 0;

  const roundTrip = (topic: string, sentAt: number, arrivedAt: number) => {
    const roundTripMs = Math.round(arrivedAt - sentAt);
    // Compared unrounded: a sub-millisecond round trip still exceeds a bound of 0.
    if (arrivedAt - sentAt > config.slowRoundTrip) {
      log.warn({ topic, roundTripMs, limitMs: config.slowRoundTrip }, "slow keepalive round trip: the path to the broker is slow");
    } else {
      log.debug({ topic, roundTripMs }, "keepalive round trip");
    }
  };

  const subscriptions = await Promise.all(
    topics.map((topic) =>
      bus.subscribe(topic, (message) => {
        const arrivedAt = performance.now();
        const sent = pending.get(message.id);
        if (!sent) return;
        pending.delete(message.id);
        roundTrip(topic, sent.sentAt, arrivedAt);
      }),
    ),
  );

  const beat = async () => {
    const now = performance.now();
    for (const [id, sent] of pending) {
      if (now - sent.sentAt <= config.interval) continue;
      pending.delete(id);
      log.warn({ topic: sent.topic, waitedMs: Math.round(now - sent.sentAt) }, "keepalive did not come back from the broker");
    }
    seq++;
    for (const topic of topics) {
      // The id is chosen before publishing: a fast broker (the embedded one
      // routes a SEND before it writes the RECEIPT) delivers our keepalive
      // before publish() has resolved.
      const id = randomUUID();
      pending.set(id, { topic, sentAt: performance.now() });
      try {
        await bus.publish(topic, { host, interval: config.interval, seq }, { timeoutMs: config.interval, envelope: { id, time: new Date().toISOString(), source: bus.source } });
      } catch (err) {
        pending.delete(id);
        log.warn({ err, topic }, "could not publish keepalive");
      }
    }
  };

  // A random first delay keeps a fleet restarted at once from beating in lock-step.
  let timer = setTimeout(function tick() {
    void beat();
    timer = setTimeout(tick, config.interval);
  }, Math.floor(Math.random() * Math.min(config.interval, 5_000)));

  return async () => {
    clearTimeout(timer);
    await Promise.all(subscriptions.map((s) => s.unsubscribe()));
  };
}
