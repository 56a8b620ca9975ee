import { performance } from "node:perf_hooks";
import { topicDef } from "../../shared/messages/index.ts";
import type { Daemon } from "../../shared/daemon.ts";
import type { TopicName } from "../../shared/messages/topics.ts";
import { keepaliveConfig } from "./config.ts";

type KeepaliveConfig = { interval: number; topics: string[]; slowRoundTrip: number };

/**
 * Publishes keepalive.v1 so idle paths through firewalls carry traffic, and
 * times each message's trip back from the broker: a slow or missing round trip
 * is how an operator learns the path to the broker is sick. The connection
 * itself is kept alive by STOMP heart-beats.
 */
export const keepalive: Daemon<KeepaliveConfig> = {
  name: "keepalive",
  description: "publishes keepalives and reports slow or lost round trips to the broker",
  config: keepaliveConfig,
  async start({ config, bus, log, host }) {
    const topics = config.topics.map((topic) => {
      if (topicDef(topic)?.type !== "keepalive.v1") {
        throw new Error(`keepalive.topics: "${topic}" is not a keepalive topic; use keepalive or keepalive.NAME`);
      }
      return topic as TopicName & `keepalive${string}`;
    });
    const pending = new Map<string, { topic: string; sentAt: number }>();
    let seq = 0;

    // A fast broker can deliver our own keepalive before its publish resolves
    // with the id; such early arrivals wait here for their id to be known.
    const early = new Map<string, number>();
    const roundTrip = (topic: string, sentAt: number, arrivedAt: number) => {
      const roundTripMs = Math.round(arrivedAt - sentAt);
      if (roundTripMs > config.slowRoundTrip) {
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
          if (!sent) {
            if (message.source.host === bus.source.host && message.source.component === bus.source.component) early.set(message.id, arrivedAt);
            return;
          }
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
      for (const [id, arrivedAt] of early) if (now - arrivedAt > config.interval) early.delete(id);
      seq++;
      for (const topic of topics) {
        const sentAt = performance.now();
        try {
          const envelope = await bus.publish(topic, { host, interval: config.interval, seq }, { timeoutMs: config.interval });
          const arrivedAt = early.get(envelope.id);
          if (arrivedAt === undefined) {
            pending.set(envelope.id, { topic, sentAt });
          } else {
            early.delete(envelope.id);
            roundTrip(topic, sentAt, arrivedAt);
          }
        } catch (err) {
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
  },
};
