import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { BodyInputOfName, BodyOfName, Envelope, Source, TopicName } from "../messages/index.ts";
import { amqpTransport } from "./amqp-transport.ts";
import {
  type Bus,
  BusUnavailableError,
  type Handler,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
} from "./bus.ts";
import { groupQueueName, routeName } from "./destinations.ts";
import { decodeEnvelope, makeEnvelope } from "./envelope-codec.ts";
import { memoryTransport } from "./memory-transport.ts";
import { stompTransport } from "./stomp-transport.ts";
import {
  type BusState,
  type Delivery,
  type StateChange,
  type Transport,
  TransportDisconnectedError,
  type TransportOptions,
  safeUrl,
} from "./transport.ts";
import { type HandlerOutcome, runHandler } from "./run-handler.ts";

export interface BusOptions {
  /** One URL or a comma-separated failover set of one protocol. */
  url: string;
  prefix: string;
  login?: string;
  passcode?: string;
  source: Source;
  log: Logger;
  publishTimeoutMs: number;
  handlerTimeoutMs: number;
  confirm: boolean;
  prefetch: number;
  heartbeatMs: number;
  connectTimeoutMs: number;
  reconnect: { initialMs: number; maxMs: number };
  groupMaxLength: number;
  groupExpiryMs: number;
  tls: { caFile?: string; insecure: boolean };
}

const transports = {
  memory: memoryTransport,
  stomp: stompTransport,
  amqp: amqpTransport,
} as const;

const schemes: Record<string, keyof typeof transports> = {
  "memory:": "memory",
  "stomp:": "stomp",
  "stomp+ssl:": "stomp",
  "stomp+tls:": "stomp",
  "amqp:": "amqp",
  "amqps:": "amqp",
};

export function parseBusUrls(value: string): { protocol: keyof typeof transports; urls: URL[] } {
  const parts = value
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
  if (parts.length === 0) throw new Error("bus.url is empty: set it to e.g. stomp://127.0.0.1:61613");
  const urls = parts.map((part) => {
    try {
      return new URL(part);
    } catch {
      throw new Error(`bus.url "${part}" is not a URL: write it like stomp://user:pass@broker:61613`);
    }
  });
  const protocols = new Set(urls.map((url) => schemes[url.protocol]));
  for (const url of urls) {
    if (!schemes[url.protocol]) {
      throw new Error(`bus.url scheme "${url.protocol}" is not supported: use stomp://, stomp+ssl://, amqp://, amqps:// or memory://`);
    }
  }
  if (protocols.size > 1) throw new Error("bus.url mixes protocols: every URL of a failover set must use the same one");
  return { protocol: [...protocols][0] as keyof typeof transports, urls };
}

const retryDelayMs = 200;

interface ActiveSubscription {
  inFlight: Set<Promise<void>>;
  /** Delivered but not yet handed to the handler (concurrency limit). */
  waiting: Delivery[];
  transport?: { unsubscribe(): Promise<void> };
}

class MessageBus implements Bus {
  readonly source: Source;
  readonly description: string;
  private readonly transport: Transport;
  private readonly log: Logger;
  private readonly subscriptions = new Set<ActiveSubscription>();
  private stopping = false;
  /** Aborts handlers still running when the grace period is over. */
  private readonly closing = new AbortController();

  private readonly options: BusOptions;

  constructor(options: BusOptions) {
    this.options = options;
    const { protocol, urls } = parseBusUrls(options.url);
    this.source = options.source;
    this.description = urls.map(safeUrl).join(",");
    this.log = options.log;
    const transportOptions: TransportOptions = {
      urls,
      login: options.login,
      passcode: options.passcode,
      heartbeatMs: options.heartbeatMs,
      reconnect: options.reconnect,
      groupMaxLength: options.groupMaxLength,
      groupExpiryMs: options.groupExpiryMs,
      connectTimeoutMs: options.connectTimeoutMs,
      tls: options.tls,
      log: options.log,
    };
    this.transport = transports[protocol](transportOptions);
    this.transport.start();
  }

  get state(): BusState {
    return this.transport.state;
  }

  onState(listener: (change: StateChange) => void): void {
    this.transport.onState(listener);
  }

  connected(timeoutMs: number): Promise<void> {
    return this.waitConnected(timeoutMs, timeoutMs);
  }

  /** reportedMs: the wait the caller was given as a whole, which is what the error says (a publish waits only what is left of its timeout). */
  private waitConnected(timeoutMs: number, reportedMs: number): Promise<void> {
    if (this.transport.state === "connected") return Promise.resolve();
    return new Promise((resolve, reject) => {
      let lastError: Error | undefined;
      const timer = setTimeout(() => {
        done = true;
        const why = lastError ? `: ${lastError.message}` : "";
        reject(new BusUnavailableError(`no connection to ${this.description} after ${reportedMs} ms${why}`));
      }, timeoutMs);
      let done = false;
      this.transport.onState((change) => {
        if (done) return;
        if (change.error) lastError = change.error;
        if (change.state === "connected") {
          done = true;
          clearTimeout(timer);
          resolve();
        } else if (change.state === "closed") {
          done = true;
          clearTimeout(timer);
          reject(new BusUnavailableError("the bus was closed"));
        }
      });
    });
  }

  async publish<T extends TopicName>(topic: T, body: BodyInputOfName<T>, options: PublishOptions = {}): Promise<Envelope<BodyOfName<T>>> {
    const envelope = makeEnvelope(topic, body, this.source, options.correlationId, options.envelope);
    await this.send(topic, JSON.stringify(envelope), options);
    return envelope as Envelope<BodyOfName<T>>;
  }

  private async send(topic: string, raw: string, options: PublishOptions): Promise<void> {
    if (this.transport.state === "closed") throw new BusUnavailableError("the bus is closed");
    const timeoutMs = options.timeoutMs ?? this.options.publishTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const publish = {
      route: routeName(this.options.prefix, topic),
      // No headers of our own: each one costs parse time on every delivery, and the envelope says what it is.
      headers: {},
      confirm: options.confirm ?? this.options.confirm,
    };
    for (;;) {
      const left = deadline - Date.now();
      if (this.transport.state !== "connected") {
        if (left <= 0) throw new BusUnavailableError(`could not publish to ${topic}: no connection to ${this.description}`);
        await this.waitConnected(left, timeoutMs).catch((err: Error) => {
          throw new BusUnavailableError(`could not publish to ${topic}: ${err.message}`);
        });
      }
      try {
        await this.transport.publish(raw, publish);
        return;
      } catch (err) {
        // The connection dropped under us: wait for the next one, within the same deadline.
        if (!(err instanceof TransportDisconnectedError) || Date.now() >= deadline) throw err;
        await sleep(Math.min(50, Math.max(0, deadline - Date.now())));
      }
    }
  }

  async subscribe<T extends TopicName>(topic: T, handler: Handler<BodyOfName<T>>, options: SubscribeOptions = {}): Promise<Subscription> {
    const route = routeName(this.options.prefix, topic);
    const active: ActiveSubscription = { inFlight: new Set(), waiting: [] };
    const { waiting } = active;
    const concurrency = options.concurrency ?? 1;
    const pump = () => {
      while (active.inFlight.size < concurrency && waiting.length > 0) {
        const delivery = waiting.shift() as Delivery;
        const pending = this.handle(topic, route, delivery, handler as Handler<unknown>, options);
        // A handler that finished synchronously needs no bookkeeping: the next message goes straight on.
        if (pending === undefined) continue;
        const work = pending.finally(() => {
          active.inFlight.delete(work);
          pump();
        });
        active.inFlight.add(work);
      }
    };
    const onDelivery = (delivery: Delivery) => {
      // While closing, hand messages back so another member (or our next start) gets them.
      if (this.stopping) return delivery.nack();
      waiting.push(delivery);
      pump();
    };
    active.transport = await this.transport.subscribe(
      {
        route,
        group: options.group,
        groupQueue: options.group ? groupQueueName(route, options.group) : undefined,
        prefetch: Math.max(this.options.prefetch, concurrency),
      },
      onDelivery,
    );
    this.subscriptions.add(active);
    return {
      unsubscribe: async () => {
        this.subscriptions.delete(active);
        await active.transport?.unsubscribe();
      },
    };
  }

  /** Returns undefined when the message was handled and settled synchronously: the common, cheap case. */
  private handle(topic: string, route: string, delivery: Delivery, handler: Handler<unknown>, options: SubscribeOptions): Promise<void> | undefined {
    const decoded = decodeEnvelope(topic, delivery.body);
    if (!decoded.ok) return this.refuse(topic, route, delivery, decoded.reason, options);
    const { envelope } = decoded;
    const parentLog = this.log;
    let childLog: Logger | undefined;
    // Made on first use: most handlers never log, and a child logger per message is measurable (docs/benchmarks.md).
    const log = () => (childLog ??= parentLog.child({ topic, msgId: envelope.id, correlationId: envelope.correlationId }));
    const attempt = (redelivered: boolean) =>
      runHandler(
        (signal) =>
          handler(envelope, {
            get log() {
              return log();
            },
            get signal() {
              return signal();
            },
            redelivered,
            headers: delivery.headers,
          }),
        { timeoutMs: options.handlerTimeoutMs ?? this.options.handlerTimeoutMs, parent: this.closing.signal },
      );
    const first = attempt(delivery.redelivered);
    if (!(first instanceof Promise) && first.ok) {
      delivery.ack();
      return undefined;
    }
    return this.retry(topic, route, delivery, first, attempt, log);
  }

  // One retry here rather than a broker redelivery: brokers disagree on NACK
  // (ActiveMQ sends a NACKed message straight to its DLQ), and a second
  // attempt is all a poison message deserves before a person looks at it.
  private async retry(
    topic: string,
    route: string,
    delivery: Delivery,
    first: HandlerOutcome | Promise<HandlerOutcome>,
    attempt: (redelivered: boolean) => HandlerOutcome | Promise<HandlerOutcome>,
    log: () => Logger,
  ): Promise<void> {
    let outcome = await first;
    for (let tries = 1; ; tries++) {
      if (outcome.ok) return delivery.ack();
      if (this.closing.signal.aborted) {
        log().warn({ err: outcome.error }, "handler stopped by shutdown; the broker will redeliver the message");
        return delivery.nack();
      }
      log().error({ err: outcome.error, attempt: tries }, "message handler failed");
      if (tries === 2) break;
      await sleep(retryDelayMs);
      outcome = await attempt(true);
    }
    await this.deadletter(topic, route, delivery, `handler failed twice: ${outcome.error.message}`);
  }

  private async refuse(topic: string, route: string, delivery: Delivery, reason: string, options: SubscribeOptions): Promise<void> {
    this.log.warn({ topic, reason }, "invalid message received");
    if (options.deadletter !== false) await this.deadletter(topic, route, delivery, reason);
    else delivery.ack();
    options.onInvalid?.(reason, delivery.body);
  }

  /** Copies a message we cannot handle to `deadletter`, then settles it; if even that fails, hands it back. */
  private async deadletter(topic: string, route: string, delivery: Delivery, reason: string): Promise<void> {
    if (topic === "deadletter") return delivery.ack(); // never loop on a broken dead letter
    try {
      await this.publish("deadletter", { destination: route, headers: delivery.headers, rawBody: delivery.body, reason });
      delivery.ack();
    } catch (err) {
      this.log.error({ err, topic }, "could not publish to deadletter; returning the message to the broker");
      delivery.nack();
    }
  }

  async close(options: { graceMs?: number } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const subscription of this.subscriptions) for (const delivery of subscription.waiting.splice(0)) delivery.nack();
    const inFlight = [...this.subscriptions].flatMap((s) => [...s.inFlight]);
    const grace = options.graceMs ?? 10_000;
    if (inFlight.length > 0) {
      this.log.info({ inFlight: inFlight.length, graceMs: grace }, "waiting for in-flight handlers");
      await Promise.race([Promise.allSettled(inFlight), sleep(grace)]);
    }
    this.closing.abort();
    for (const subscription of [...this.subscriptions]) await subscription.transport?.unsubscribe().catch(() => {});
    this.subscriptions.clear();
    await this.transport.close();
  }
}

export function createBus(options: BusOptions): Bus {
  return new MessageBus(options);
}
