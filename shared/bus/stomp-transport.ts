import { setTimeout as sleep } from "node:timers/promises";
import { Client, type IMessage, type IStompSocket, type StompHeaders, type StompSubscription, Versions } from "@stomp/stompjs";
import { backoff } from "./backoff.ts";
import { activemqGroupDestination, stompTopicDestination } from "./destinations.ts";
import { isDrainable, stompSocket } from "./stomp-socket.ts";
import {
  type BusState,
  type Delivery,
  type PublishOptions,
  type RouteOptions,
  type StateChange,
  type Transport,
  TransportDisconnectedError,
  type TransportOptions,
  type TransportSubscription,
  safeUrl,
} from "./transport.ts";

/**
 * Brokers agree on STOMP frames but not on how several consumers share a
 * topic, so group subscriptions are mapped per broker, told apart by the
 * `server` header of CONNECTED. The embedded broker follows RabbitMQ's headers.
 */
export type StompFlavor = "rabbitmq" | "activemq" | "generic";

export function stompFlavor(server: string | undefined): StompFlavor {
  if (!server) return "generic";
  if (/^rabbitmq\b/i.test(server) || /^deploykit\b/i.test(server)) return "rabbitmq";
  if (/^activemq\b/i.test(server)) return "activemq";
  return "generic";
}

export function subscribeFrame(
  flavor: StompFlavor,
  options: RouteOptions,
  limits: { groupMaxLength: number; groupExpiryMs: number },
): { destination: string; headers: StompHeaders } {
  const headers: StompHeaders = { ack: "client-individual" };
  switch (flavor) {
    case "rabbitmq":
      headers["prefetch-count"] = String(options.prefetch);
      if (options.groupQueue) {
        // Same queue name and arguments as the AMQP transport declares, so both kinds of member share it.
        Object.assign(headers, {
          "x-queue-name": options.groupQueue,
          durable: "true",
          "auto-delete": "false",
          "x-max-length": String(limits.groupMaxLength),
          "x-expires": String(limits.groupExpiryMs),
        });
      }
      return { destination: stompTopicDestination(options.route), headers };
    case "activemq":
      headers["activemq.prefetchSize"] = String(options.prefetch);
      if (options.group) return { destination: activemqGroupDestination(options.route, options.group), headers };
      return { destination: stompTopicDestination(options.route), headers };
    case "generic":
      if (options.group) {
        throw new Error(
          `group subscriptions need a broker whose sharing convention deploykit knows (RabbitMQ, ActiveMQ, the embedded broker); group "${options.group}" cannot be mapped`,
        );
      }
      return { destination: stompTopicDestination(options.route), headers };
    default: {
      const unreachable: never = flavor;
      throw new Error(`unknown STOMP flavor ${String(unreachable)}`);
    }
  }
}

interface Registered {
  options: RouteOptions;
  onDelivery: (delivery: Delivery) => void;
  current?: StompSubscription;
  /** The connection generation this entry was last subscribed on. */
  generation?: number;
}

class StompTransport implements Transport {
  readonly protocol = "stomp";
  private current: BusState = "connecting";
  private readonly listeners: ((change: StateChange) => void)[] = [];
  private readonly client: Client;
  private readonly registered = new Set<Registered>();
  private readonly receipts = new Map<string, { resolve(): void; reject(error: Error): void; deadline: number }>();
  private sweeper?: NodeJS.Timeout;
  private receiptSeq = 0;
  private readonly stopping = new AbortController();
  private attempt = 0;
  private urlIndex = 0;
  private url: URL;
  private socket?: IStompSocket;
  /** Why the current socket failed, reported with the state change that follows. */
  private socketError?: Error;
  private flavor: StompFlavor = "generic";
  /** Bumped on every new connection: an ack for a message of an older one must not reach the new one. */
  private generation = 0;

  private readonly options: TransportOptions;

  constructor(options: TransportOptions) {
    this.options = options;
    this.url = options.urls[0] as URL;
    const login = decodeURIComponent(this.url.username) || options.login;
    const passcode = decodeURIComponent(this.url.password) || options.passcode;
    const vhost = decodeURIComponent(this.url.pathname.replace(/^\//, "")) || "/";
    const connectHeaders: StompHeaders = { host: vhost };
    if (login) connectHeaders.login = login;
    if (passcode) connectHeaders.passcode = passcode;
    this.client = new Client({
      connectHeaders,
      stompVersions: new Versions([Versions.V1_2]),
      heartbeatIncoming: options.heartbeatMs,
      heartbeatOutgoing: options.heartbeatMs,
      connectionTimeout: options.connectTimeoutMs,
      // Our own backoff with jitter runs in beforeConnect; stompjs only needs reconnecting switched on.
      reconnectDelay: 1,
      discardWebsocketOnCommFailure: true,
      debug: () => {},
      webSocketFactory: () => {
        this.socket = stompSocket(this.url, options.tls);
        return this.socket;
      },
      beforeConnect: () => this.beforeConnect(),
      onConnect: (frame) => this.connected(frame.headers.server),
      onStompError: (frame) => {
        options.log.error({ url: safeUrl(this.url), message: frame.headers.message, detail: frame.body.slice(0, 500) }, "broker sent ERROR");
      },
      onWebSocketClose: () => {
        this.lost(this.socketError ?? new Error("connection closed"));
        this.socketError = undefined;
      },
      onWebSocketError: (event: unknown) => {
        if (event instanceof Error) this.socketError = event;
      },
    });
  }

  get state(): BusState {
    return this.current;
  }

  start(): void {
    this.client.activate();
  }

  private async beforeConnect(): Promise<void> {
    if (this.attempt > 0) {
      const delay = backoff(this.attempt - 1, this.options.reconnect);
      await sleep(delay, undefined, { signal: this.stopping.signal }).catch(() => {});
    }
    this.url = this.options.urls[this.urlIndex % this.options.urls.length] as URL;
    if (!this.stopping.signal.aborted) this.setState({ state: "connecting", url: safeUrl(this.url) });
  }

  private connected(server: string | undefined): void {
    this.attempt = 0;
    this.generation++;
    this.flavor = stompFlavor(server);
    const generation = this.generation;
    // Report "connected" only once every subscription is back, so whoever
    // publishes on that event finds its own subscriptions in place.
    void Promise.allSettled(
      [...this.registered].map((entry) =>
        this.attach(entry).catch((err: Error) => {
          this.options.log.error({ err, route: entry.options.route }, "could not resubscribe");
        }),
      ),
    ).then(() => {
      if (generation !== this.generation || !this.client.connected || this.stopping.signal.aborted) return;
      this.options.log.info({ url: safeUrl(this.url), server: server ?? "unknown" }, "connected to the bus");
      this.setState({ state: "connected", url: safeUrl(this.url), server });
    });
  }

  private lost(error: Error): void {
    for (const receipt of this.receipts.values()) receipt.reject(new TransportDisconnectedError("connection lost before the broker confirmed"));
    this.receipts.clear();
    for (const entry of this.registered) entry.current = undefined;
    if (this.stopping.signal.aborted) return;
    const wasConnected = this.current === "connected";
    this.attempt++;
    this.urlIndex++;
    if (wasConnected) this.options.log.warn({ url: safeUrl(this.url) }, "lost the bus connection; reconnecting");
    this.setState({ state: "disconnected", url: safeUrl(this.url), error });
  }

  async publish(body: string, options: PublishOptions): Promise<void> {
    if (this.current !== "connected" || !this.client.connected) throw new TransportDisconnectedError();
    const headers: StompHeaders = { ...options.headers, persistent: "true" };
    let confirmed: Promise<void> | undefined;
    if (options.confirm) {
      const receipt = `p${++this.receiptSeq}`;
      headers.receipt = receipt;
      confirmed = this.receipt(receipt);
    }
    this.client.publish({ destination: stompTopicDestination(options.route), body, headers });
    const socket = this.socket;
    if (socket && isDrainable(socket)) await socket.whenDrained();
    await confirmed;
  }

  /**
   * Resolves when the broker sends RECEIPT for `id`. Deadlines are checked by
   * one sweep timer rather than a timer per frame: this runs for every
   * confirmed publish.
   */
  private receipt(id: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.receipts.set(id, { resolve, reject, deadline: Date.now() + this.options.connectTimeoutMs });
      this.client.watchForReceipt(id, () => {
        this.receipts.get(id)?.resolve();
        this.receipts.delete(id);
      });
      this.sweeper ??= setInterval(() => this.sweepReceipts(), 250);
    });
  }

  private sweepReceipts(): void {
    const now = Date.now();
    for (const [id, waiting] of this.receipts) {
      if (waiting.deadline > now) continue;
      this.receipts.delete(id);
      waiting.reject(new Error(`the broker did not confirm within ${this.options.connectTimeoutMs} ms`));
    }
    if (this.receipts.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  async subscribe(options: RouteOptions, onDelivery: (delivery: Delivery) => void): Promise<TransportSubscription> {
    const entry: Registered = { options, onDelivery };
    this.registered.add(entry);
    if (this.client.connected) {
      try {
        await this.attach(entry);
      } catch (err) {
        this.registered.delete(entry);
        throw err;
      }
    }
    return {
      unsubscribe: async () => {
        this.registered.delete(entry);
        const subscription = entry.current;
        entry.current = undefined;
        if (subscription && this.client.connected) {
          try {
            subscription.unsubscribe();
          } catch {
            // The connection went away meanwhile: the broker dropped the subscription with it.
          }
        }
      },
    };
  }

  /** SUBSCRIBE on the current connection and wait for the broker's receipt, so nothing published after this returns is missed. */
  private async attach(entry: Registered): Promise<void> {
    const generation = this.generation;
    if (entry.generation === generation) return;
    entry.generation = generation;
    const { destination, headers } = subscribeFrame(this.flavor, entry.options, this.options);
    const receipt = `s${++this.receiptSeq}`;
    const confirmed = this.receipt(receipt);
    entry.current = this.client.subscribe(destination, (message) => entry.onDelivery(this.delivery(message, generation)), { ...headers, receipt });
    await confirmed;
  }

  private delivery(message: IMessage, generation: number): Delivery {
    const flavor = this.flavor;
    const settle = (how: "ack" | "nack") => {
      // ActiveMQ turns a STOMP NACK into a move to its DLQ. Leaving the message
      // unacknowledged instead gets it redelivered when this subscription ends.
      if (how === "nack" && flavor === "activemq") return;
      // After a reconnect the broker has already put this message back; acking it on the new connection would be an error.
      if (generation !== this.generation || !this.client.connected) return;
      try {
        message[how]();
      } catch {
        // Lost the connection between the check and the frame: the broker redelivers.
      }
    };
    const headers: Record<string, string> = { ...message.headers };
    return {
      body: message.body,
      headers,
      redelivered: headers.redelivered === "true" || Number(headers.redeliveryCounter ?? 0) > 0,
      ack: () => settle("ack"),
      nack: () => settle("nack"),
    };
  }

  onState(listener: (change: StateChange) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.current === "closed") return;
    this.stopping.abort();
    this.registered.clear();
    clearInterval(this.sweeper);
    await this.client.deactivate({ force: !this.client.connected });
    this.setState({ state: "closed", url: safeUrl(this.url) });
  }

  private setState(change: StateChange): void {
    this.current = change.state;
    for (const listener of this.listeners) listener(change);
  }
}

export function stompTransport(options: TransportOptions): Transport {
  return new StompTransport(options);
}
