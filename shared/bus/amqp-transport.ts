import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import amqp from "amqplib";
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, Options, SocketOptions } from "amqplib";
import type { Logger } from "pino";
import { backoff } from "./backoff.ts";
import { amqpExchange, groupQueueName } from "./destinations.ts";
import type { BusState, Delivery, PublishOptions, RouteOptions, StateChange, Transport, TransportOptions, TransportSubscription } from "./transport.ts";
import { TransportDisconnectedError, safeUrl } from "./transport.ts";

// RabbitMQ over AMQP 0-9-1. Routes are routing keys on amq.topic, which is
// where RabbitMQ's STOMP plugin puts /topic/<route>, so STOMP and AMQP daemons
// on one broker see each other's messages and share group queues.

interface Subscription {
  readonly options: RouteOptions;
  readonly onDelivery: (delivery: Delivery) => void;
  active: boolean;
  channel?: Channel;
  consumerTag?: string;
  /** A reconnect and a fresh subscribe() must not both build a consumer. */
  settingUp?: Promise<void>;
  failures: number;
  retry?: NodeJS.Timeout;
}

interface Publisher {
  readonly channel: ConfirmChannel;
  closed: boolean;
  drained?: Promise<void>;
}

const ignore = (): void => {};

export class AmqpTransport implements Transport {
  readonly protocol = "amqp";
  readonly #options: TransportOptions;
  readonly #log: Logger;
  readonly #listeners: ((change: StateChange) => void)[] = [];
  readonly #subscriptions = new Set<Subscription>();
  #state: BusState = "connecting";
  #started = false;
  #stopping = false;
  #closed?: Promise<void>;
  #url: URL;
  #next = 0;
  #failures = 0;
  #warned = false;
  #timer?: NodeJS.Timeout;
  #model?: ChannelModel;
  #publisher?: Publisher;
  #lastError?: Error;

  constructor(options: TransportOptions) {
    const bad = options.urls.find((url) => url.protocol !== "amqp:" && url.protocol !== "amqps:");
    if (options.urls.length === 0 || bad) {
      throw new Error(`bus.url ${bad ? safeUrl(bad) : "(empty)"} is not usable here: the AMQP transport takes amqp:// or amqps:// URLs`);
    }
    this.#options = options;
    this.#log = options.log;
    this.#url = options.urls[0] as URL;
  }

  get state(): BusState {
    return this.#state;
  }

  onState(listener: (change: StateChange) => void): void {
    this.#listeners.push(listener);
  }

  start(): void {
    if (this.#started || this.#stopping) return;
    this.#started = true;
    void this.#connect();
  }

  async #connect(): Promise<void> {
    if (this.#stopping) return;
    const { urls } = this.#options;
    const url = urls[this.#next++ % urls.length] as URL;
    this.#url = url;
    this.#setState({ state: "connecting", url: safeUrl(url) });
    let model: ChannelModel | undefined;
    try {
      model = await this.#open(url);
      if (this.#stopping) return void model.close().catch(ignore);
      this.#model = model;
      this.#lastError = undefined;
      model.on("error", (err: Error) => this.#failed(model as ChannelModel, err));
      model.on("close", (err?: Error) => this.#onClose(model as ChannelModel, err));
      model.on("blocked", (reason: string) => this.#log.warn({ reason }, "the broker is blocking publishers (resource alarm)"));
      model.on("unblocked", () => this.#log.info("the broker accepts publishers again"));
      this.#publisher = await this.#openPublisher(model);
      // "connected" means usable: a daemon publishing on it must find its own subscriptions in place.
      await Promise.all([...this.#subscriptions].map((sub) => this.#resubscribe(sub, model as ChannelModel)));
      if (this.#model !== model || this.#stopping) return;
      this.#failures = 0;
      this.#warned = false;
      const { product, version } = model.connection.serverProperties ?? {};
      const server = product ? [product, version].filter(Boolean).join("/") : undefined;
      this.#log.info({ url: safeUrl(url), server }, "connected to the bus");
      this.#setState({ state: "connected", url: safeUrl(url), server });
    } catch (err) {
      if (model === undefined) return this.#lost(asError(err));
      // Open but unusable: closing it hands over to the close handler, which reconnects.
      this.#failed(model, asError(err));
      if (this.#model === model) model.close().catch(ignore);
    }
  }

  async #open(url: URL): Promise<ChannelModel> {
    const options = this.#options;
    // timeout bounds each quiet stretch of the handshake; the deadline below bounds the whole attempt.
    const socket: SocketOptions = { timeout: options.connectTimeoutMs, noDelay: true, keepAlive: true };
    if (url.protocol === "amqps:") {
      const { caFile } = options.tls;
      try {
        if (caFile !== undefined) socket.ca = [await readFile(caFile)];
      } catch (err) {
        throw new Error(`cannot read the TLS CA file ${caFile}: ${asError(err).message}`, { cause: err });
      }
      socket.rejectUnauthorized = !options.tls.insecure;
    }
    const attempt = amqp.connect(
      {
        protocol: url.protocol.slice(0, -1),
        hostname: url.hostname.replace(/^\[|\]$/g, ""),
        port: url.port === "" ? undefined : Number(url.port),
        username: decodeURIComponent(url.username) || options.login || "guest",
        password: decodeURIComponent(url.password) || options.passcode || "guest",
        vhost: url.pathname.length > 1 ? url.pathname.slice(1) : undefined, // amqplib unescapes it: /%2F is "/"
        heartbeat: Math.max(1, Math.round(options.heartbeatMs / 1000)),
      },
      socket,
    );
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      const ms = options.connectTimeoutMs;
      timer = setTimeout(() => reject(new Error(`no AMQP handshake with ${safeUrl(url)} within ${ms} ms`)), ms);
    });
    try {
      // Until #connect attaches its own, an 'error' event without a listener would crash the process.
      return (await Promise.race([attempt, deadline])).on("error", ignore);
    } catch (err) {
      attempt.then((late) => late.on("error", ignore).close().catch(ignore), ignore);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  #failed(model: ChannelModel, err: Error): void {
    if (this.#model === model) this.#lastError = err;
  }

  #onClose(model: ChannelModel, err: Error | undefined): void {
    if (this.#model !== model) return;
    this.#model = undefined;
    this.#publisher = undefined;
    for (const sub of this.#subscriptions) {
      sub.channel = undefined;
      clearTimeout(sub.retry);
    }
    this.#lost(err ?? this.#lastError ?? new Error("the broker closed the connection"));
  }

  #lost(error: Error): void {
    if (this.#stopping) return;
    const wasConnected = this.#state === "connected";
    const delay = backoff(this.#failures++, this.#options.reconnect);
    const url = safeUrl(this.#url);
    this.#setState({ state: "disconnected", url, error });
    // One warning per outage; the retries of a long one go to debug.
    const message = wasConnected ? "lost the bus connection; reconnecting" : "cannot connect to the bus; retrying";
    this.#log[this.#warned ? "debug" : "warn"]({ err: error, url, retryInMs: delay }, message);
    this.#warned = true;
    this.#timer = setTimeout(() => void this.#connect(), delay);
  }

  async #openPublisher(model: ChannelModel): Promise<Publisher> {
    const channel = await model.createConfirmChannel();
    const publisher: Publisher = { channel, closed: false };
    // Prepended to run before amqplib fails the outstanding confirms, whose callbacks must tell a lost channel from a nack.
    channel.prependListener("close", () => {
      publisher.closed = true;
      if (this.#publisher !== publisher) return;
      this.#publisher = undefined;
      // Only this channel died (the broker closed it): a full reconnect rebuilds everything along one well-trodden path.
      setImmediate(() => {
        if (this.#model === model && !this.#stopping) model.close().catch(ignore);
      });
    });
    channel.on("error", (err: Error) => this.#failed(model, err));
    return publisher;
  }

  async publish(body: string, options: PublishOptions): Promise<void> {
    const publisher = this.#publisher;
    if (publisher === undefined || publisher.closed || this.#stopping || this.#state !== "connected") {
      throw new TransportDisconnectedError(`not connected to ${safeUrl(this.#url)}`);
    }
    const content = Buffer.from(body, "utf8");
    const properties: Options.Publish = { persistent: true, contentType: "application/json", headers: options.headers };
    if (!options.confirm) {
      if (!publisher.channel.publish(amqpExchange, options.route, content, properties)) await drained(publisher);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      publisher.channel.publish(amqpExchange, options.route, content, properties, (err: unknown) => {
        if (err === null || err === undefined) resolve();
        else if (publisher.closed) reject(new TransportDisconnectedError("connection lost before the broker confirmed the message"));
        else reject(new Error(`the broker refused (nacked) a message for ${options.route}`));
      });
    });
  }

  async subscribe(options: RouteOptions, onDelivery: (delivery: Delivery) => void): Promise<TransportSubscription> {
    if (this.#stopping) throw new Error("the AMQP transport is closed: subscribe before close()");
    const sub: Subscription = { options, onDelivery, active: true, failures: 0 };
    this.#subscriptions.add(sub);
    const model = this.#model;
    try {
      if (model !== undefined) await this.#setUp(sub, model);
    } catch (err) {
      // A connection lost meanwhile is not this subscription's fault: the next connection sets it up.
      if (sub.active && this.#model === model) {
        this.#drop(sub);
        this.#log.error({ err, route: options.route, queue: queueOf(options) }, "cannot subscribe");
        throw explain(err, options);
      }
    }
    return { unsubscribe: () => this.#unsubscribe(sub) };
  }

  async #resubscribe(sub: Subscription, model: ChannelModel): Promise<void> {
    if (!sub.active || (sub.channel !== undefined && sub.settingUp === undefined)) return;
    await this.#setUp(sub, model).catch((err: unknown) => {
      if (!sub.active || this.#model !== model) return;
      this.#log.error({ err, route: sub.options.route, queue: queueOf(sub.options) }, "cannot resubscribe; retrying");
    });
  }

  #setUp(sub: Subscription, model: ChannelModel): Promise<void> {
    sub.settingUp ??= this.#build(sub, model).finally(() => {
      sub.settingUp = undefined;
    });
    return sub.settingUp;
  }

  async #build(sub: Subscription, model: ChannelModel): Promise<void> {
    const { route, prefetch } = sub.options;
    const channel = await model.createChannel();
    sub.channel = channel;
    let consuming = false;
    channel.on("error", (err: Error) => {
      // Failures during set-up are reported by whoever awaits it.
      if (consuming) this.#log.error({ err, route }, "the broker closed a subscription channel; re-creating it");
    });
    channel.on("close", () => {
      if (sub.channel !== channel) return;
      sub.channel = undefined;
      sub.consumerTag = undefined;
      if (sub.active && this.#model === model && !this.#stopping) this.#retryLater(sub, model);
    });
    try {
      await channel.prefetch(prefetch);
      const group = queueOf(sub.options);
      const { queue } =
        group === undefined
          ? await channel.assertQueue("", { exclusive: true, autoDelete: true, durable: false })
          : await channel.assertQueue(group, { durable: true, exclusive: false, autoDelete: false, arguments: this.#groupArguments() });
      await channel.bindQueue(queue, amqpExchange, route);
      const { consumerTag } = await channel.consume(queue, (message) => this.#deliver(sub, channel, message), { noAck: false });
      sub.consumerTag = consumerTag;
      sub.failures = 0;
      consuming = true;
    } catch (err) {
      channel.close().catch(ignore);
      throw err;
    }
  }

  // Exactly what RabbitMQ's STOMP plugin declares for the same queue (x-max-length, x-expires): a redeclaration
  // with other arguments fails with PRECONDITION_FAILED, and the plugin (3.10) cannot pass x-overflow at all.
  // RabbitMQ's default overflow is drop-head, so leaving it out loses nothing.
  #groupArguments(): Record<string, number> {
    return { "x-max-length": Math.trunc(this.#options.groupMaxLength), "x-expires": Math.trunc(this.#options.groupExpiryMs) };
  }

  #retryLater(sub: Subscription, model: ChannelModel): void {
    clearTimeout(sub.retry);
    const delay = backoff(sub.failures++, this.#options.reconnect);
    sub.retry = setTimeout(() => {
      if (this.#model === model && !this.#stopping) void this.#resubscribe(sub, model);
    }, delay);
  }

  #deliver(sub: Subscription, channel: Channel, message: ConsumeMessage | null): void {
    if (message === null) {
      this.#log.warn({ route: sub.options.route }, "the broker cancelled a subscription (queue deleted?); re-creating it");
      channel.close().catch(ignore);
      return;
    }
    let settled = false;
    const settle = (how: (m: ConsumeMessage) => void) => {
      // Settling a tag twice makes the broker close the channel; on a closed channel the broker redelivers anyway.
      if (settled) return;
      settled = true;
      try {
        how(message);
      } catch {}
    };
    const delivery: Delivery = {
      body: message.content.toString("utf8"),
      headers: headersOf(message),
      redelivered: message.fields.redelivered,
      ack: () => settle((m) => channel.ack(m)),
      nack: () => settle((m) => channel.nack(m, false, true)),
    };
    try {
      sub.onDelivery(delivery);
    } catch (err) {
      this.#log.error({ err, route: sub.options.route }, "delivery handler threw; the message stays unacknowledged");
    }
  }

  async #unsubscribe(sub: Subscription): Promise<void> {
    this.#drop(sub);
    const { channel, consumerTag } = sub;
    sub.channel = undefined;
    if (channel === undefined) return;
    try {
      if (consumerTag !== undefined) await channel.cancel(consumerTag);
      await channel.close();
    } catch {
      // The channel went with its connection: nothing left to cancel.
    }
  }

  #drop(sub: Subscription): void {
    sub.active = false;
    clearTimeout(sub.retry);
    this.#subscriptions.delete(sub);
  }

  close(): Promise<void> {
    this.#stopping = true;
    this.#closed ??= this.#shutdown();
    return this.#closed;
  }

  async #shutdown(): Promise<void> {
    clearTimeout(this.#timer);
    const model = this.#model;
    const publisher = this.#publisher;
    this.#model = undefined;
    this.#publisher = undefined;
    const channels = [...this.#subscriptions].flatMap((sub) => {
      clearTimeout(sub.retry);
      const channel = sub.channel;
      sub.channel = undefined;
      return channel ? [channel] : [];
    });
    if (model !== undefined) {
      // amqplib drops confirms that arrive once a channel is closing: let publishes in flight finish first.
      if (publisher && !publisher.closed) {
        await Promise.race([publisher.channel.waitForConfirms().catch(ignore), sleep(this.#options.connectTimeoutMs, undefined, { ref: false })]);
        channels.push(publisher.channel);
      }
      await Promise.allSettled(channels.map((channel) => channel.close()));
      await model.close().catch(ignore);
    }
    this.#setState({ state: "closed", url: safeUrl(this.#url) });
  }

  #setState(change: StateChange): void {
    this.#state = change.state;
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (err) {
        this.#log.error({ err }, "a bus state listener threw");
      }
    }
  }
}

/** RabbitMQ over AMQP 0-9-1 (`amqp://`, `amqps://`). */
export function amqpTransport(options: TransportOptions): Transport {
  return new AmqpTransport(options);
}

function queueOf(options: RouteOptions): string | undefined {
  if (options.group === undefined) return undefined;
  return options.groupQueue ?? groupQueueName(options.route, options.group);
}

function drained(publisher: Publisher): Promise<void> {
  const { channel } = publisher;
  publisher.drained ??= new Promise<void>((resolve, reject) => {
    const done = (settle: () => void) => {
      channel.off("drain", onDrain).off("close", onClose);
      publisher.drained = undefined;
      settle();
    };
    const onDrain = () => done(resolve);
    const onClose = () => done(() => reject(new TransportDisconnectedError("connection lost before the message was written")));
    channel.on("drain", onDrain).on("close", onClose);
  });
  return publisher.drained;
}

function headersOf(message: ConsumeMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.properties.headers ?? {})) {
    if (value !== undefined && value !== null) headers[name] = String(value);
  }
  if (message.properties.contentType) headers["content-type"] = String(message.properties.contentType);
  return headers;
}

function explain(err: unknown, options: RouteOptions): Error {
  const error = asError(err);
  if ((error as { code?: unknown }).code !== 406) return error;
  const hint = "give every member of the group the same group length and expiry settings, or delete the queue";
  return new Error(`queue ${queueOf(options)} exists with other arguments (${error.message}): ${hint}`, { cause: error });
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
