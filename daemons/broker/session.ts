import type { Socket } from "node:net";
import type { Logger } from "pino";
import { TickCork } from "../../shared/tick-cork.ts";
import type { Authenticator } from "./authenticator.ts";
import { BrokerMessage } from "./broker-message.ts";
import type { BrokerMetrics } from "./broker-metrics.ts";
import { type FrameLimits, FrameParser } from "./frame-parser.ts";
import { MessageQueue, type QueuedMessage } from "./message-queue.ts";
import type { Router } from "./router.ts";
import { declareQueue } from "./declare-queue.ts";
import { destinationOf, parseDestination } from "./destination.ts";
import { type Agreement, negotiate } from "./negotiate.ts";
import { type Frame, FrameError, type StompVersion, encodeFrame, heartbeatFrame, numericHeader } from "./stomp-frame.ts";
import { type AckMode, type Delivery, Subscription, type SubscriptionOwner, ackModes } from "./subscription.ts";

export interface SessionLimits extends FrameLimits {
  maxSubscriptions: number;
  slowConsumerMessages: number;
  maxQueueLength: number;
  /** Named queues (groups and /queue/ destinations) in the whole broker. */
  maxQueues: number;
  maxTransactionFrames: number;
}

/** What every session shares: the broker's state and settings. */
export interface BrokerContext {
  router: Router;
  metrics: BrokerMetrics;
  auth: Authenticator;
  limits: SessionLimits;
  heartbeatMs: number;
  connectTimeoutMs: number;
  server: string;
  log: Logger;
  /** Named queues report drops through here, so one log line covers a burst. */
  queueHooks: { onDrop(queue: MessageQueue): void; onFull(queue: MessageQueue): void; onUnused(queue: MessageQueue): void };
}

type State = "connecting" | "authenticating" | "connected" | "closed";

/** One client connection: its frames, subscriptions, unacknowledged deliveries and transactions. */
export class Session implements SubscriptionOwner {
  readonly id: string;
  writable = true;
  private state: State = "connecting";
  private version: StompVersion = "1.2";
  private readonly socket: Socket;
  private readonly context: BrokerContext;
  private readonly parser: FrameParser;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly unacked = new Map<string, Delivery>();
  private readonly transactions = new Map<string, Frame[]>();
  /** Frames that arrived while the login was being checked. */
  private backlog: Frame[] = [];
  private deliverySeq = 0;
  private readonly cork: TickCork;
  private lastRead = Date.now();
  private lastWrite = Date.now();
  private timers: NodeJS.Timeout[] = [];
  private user = "";
  private readonly log: Logger;
  private readonly onClose: (session: Session) => void;

  constructor(id: string, socket: Socket, context: BrokerContext, onClose: (session: Session) => void) {
    this.id = id;
    this.socket = socket;
    this.cork = new TickCork(socket);
    this.context = context;
    this.onClose = onClose;
    this.log = context.log.child({ session: id, remote: `${socket.remoteAddress}:${socket.remotePort}` });
    this.parser = new FrameParser(context.limits, (frame) => this.receive(frame));
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.data(chunk));
    socket.on("drain", () => this.drained());
    socket.on("error", (err) => this.log.debug({ err }, "socket error"));
    // The broker forgets a session only when its socket is gone, not when the session ends: a socket
    // closed after an ERROR lingers until the peer reads it, and broker close() must destroy it too.
    socket.on("close", () => {
      this.cleanup();
      this.onClose(this);
    });
    const connectTimer = setTimeout(() => {
      if (this.state === "connecting") this.fail("no CONNECT frame received in time", `connect within ${context.connectTimeoutMs} ms of opening the connection`);
    }, context.connectTimeoutMs);
    connectTimer.unref();
    this.timers.push(connectTimer);
  }

  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  private data(chunk: Buffer): void {
    if (this.state === "closed") return;
    this.lastRead = Date.now();
    try {
      this.parser.push(chunk);
    } catch (err) {
      if (err instanceof FrameError) this.fail(err.message, frameErrorHint);
      else this.internalError(err);
    }
  }

  private receive(frame: Frame): void {
    if (this.state === "closed") return;
    if (this.state === "authenticating") {
      if (this.backlog.length >= 100) throw new FrameError("too many frames sent before CONNECTED");
      this.backlog.push(frame);
      return;
    }
    if (this.state === "connecting") {
      if (frame.command !== "CONNECT" && frame.command !== "STOMP") {
        this.fail("not connected", `the first frame must be CONNECT or STOMP, not ${frame.command}`);
        return;
      }
      this.connect(frame);
      return;
    }
    try {
      this.handle(frame);
    } catch (err) {
      if (err instanceof FrameError) this.fail(err.message, undefined, frame.headers.receipt);
      else this.internalError(err);
    }
  }

  private connect(frame: Frame): void {
    const agreed = negotiate(frame.headers, this.context.heartbeatMs);
    if ("refusal" in agreed) {
      this.fail(agreed.refusal.message, agreed.refusal.detail, undefined, agreed.refusal.headers);
      return;
    }
    this.version = agreed.version;
    this.parser.version = agreed.version;
    this.state = "authenticating";
    // Reading on while the login is checked (scrypt is slow on purpose) would let a client pile up frames here.
    this.socket.pause();
    this.context.auth.check(frame.headers.login, frame.headers.passcode, this.socket.remoteAddress).then(
      (result) => {
        if (this.state !== "authenticating") return;
        if (!result.ok) {
          this.context.metrics.authFailures++;
          this.log.warn({ login: frame.headers.login ?? "(anonymous)", reason: result.reason }, "refused a connection");
          this.fail("access refused", result.reason);
          return;
        }
        this.user = result.user;
        this.connected(agreed);
      },
      (err: unknown) => this.internalError(err),
    );
  }

  private connected({ sendEvery, expectEvery }: Agreement): void {
    const mine = this.context.heartbeatMs;
    this.state = "connected";
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
    const headers: Record<string, string> = { version: this.version, server: this.context.server, session: this.id };
    if (this.version !== "1.0") headers["heart-beat"] = `${mine},${mine}`;
    if (this.user !== "anonymous") headers["user-name"] = this.user;
    this.write(encodeFrame("CONNECTED", headers, "", this.version));
    if (sendEvery > 0) {
      const timer = setInterval(() => {
        if (Date.now() - this.lastWrite >= sendEvery / 2) this.write(heartbeatFrame);
      }, sendEvery / 2);
      timer.unref();
      this.timers.push(timer);
    }
    if (expectEvery > 0) {
      // Twice the period, as the spec suggests, to allow for the network.
      const timer = setInterval(() => {
        if (Date.now() - this.lastRead > 2 * expectEvery) {
          this.context.metrics.heartbeatTimeouts++;
          this.fail("heart-beat timeout", `nothing received from the client for ${Date.now() - this.lastRead} ms; heart-beats were agreed every ${expectEvery} ms`);
        }
      }, expectEvery);
      timer.unref();
      this.timers.push(timer);
    }
    this.log.debug({ version: this.version, user: this.user, sendEvery, expectEvery }, "client connected");
    const backlog = this.backlog;
    this.backlog = [];
    for (const frame of backlog) this.receive(frame);
    this.socket.resume();
  }

  private handle(frame: Frame): void {
    const h = frame.headers;
    switch (frame.command) {
      case "SEND":
        if (this.inTransaction(frame)) break;
        this.send(frame);
        break;
      case "SUBSCRIBE":
        this.subscribe(h);
        break;
      case "UNSUBSCRIBE": {
        const id = h.id ?? (this.version === "1.0" ? h.destination : undefined);
        if (id === undefined) throw new FrameError("UNSUBSCRIBE needs an id header");
        // An unknown id is not an error: the subscription may already be gone with its queue.
        const subscription = this.subscriptions.get(id);
        if (subscription) this.unsubscribe(subscription);
        break;
      }
      case "ACK":
      case "NACK":
        if (this.inTransaction(frame)) break;
        this.settle(frame);
        break;
      case "BEGIN": {
        const name = this.transactionName(frame);
        if (this.transactions.has(name)) throw new FrameError(`transaction "${name}" has already begun`);
        this.transactions.set(name, []);
        break;
      }
      case "COMMIT": {
        const name = this.transactionName(frame);
        const frames = this.transactions.get(name);
        if (!frames) throw new FrameError(`COMMIT of unknown transaction "${name}"`);
        this.transactions.delete(name);
        for (const held of frames) {
          if (held.command === "SEND") this.send(held);
          else this.settle(held);
        }
        break;
      }
      case "ABORT": {
        const name = this.transactionName(frame);
        if (!this.transactions.delete(name)) throw new FrameError(`ABORT of unknown transaction "${name}"`);
        break;
      }
      case "DISCONNECT":
        if (h.receipt !== undefined) this.write(encodeFrame("RECEIPT", { "receipt-id": h.receipt }, "", this.version));
        this.close();
        return;
      case "CONNECT":
      case "STOMP":
        throw new FrameError("already connected");
      default:
        throw new FrameError(`unknown command ${frame.command}`);
    }
    if (h.receipt !== undefined && this.state === "connected") this.write(encodeFrame("RECEIPT", { "receipt-id": h.receipt }, "", this.version));
  }

  private transactionName(frame: Frame): string {
    const name = frame.headers.transaction;
    if (!name) throw new FrameError(`${frame.command} needs a transaction header`);
    return name;
  }

  /** Holds a SEND, ACK or NACK that names a transaction until COMMIT. */
  private inTransaction(frame: Frame): boolean {
    const name = frame.headers.transaction;
    if (name === undefined) return false;
    const frames = this.transactions.get(name);
    if (!frames) throw new FrameError(`${frame.command} in unknown transaction "${name}": BEGIN it first`);
    // Checked now rather than at COMMIT, so that a COMMIT never applies half a transaction.
    if (frame.command === "SEND") destinationOf(frame);
    else this.ackTag(frame);
    if (frames.length >= this.context.limits.maxTransactionFrames) {
      throw new FrameError(`transaction "${name}" holds ${frames.length} frames; the limit is ${this.context.limits.maxTransactionFrames}`);
    }
    frames.push(frame);
    return true;
  }

  private send(frame: Frame): void {
    const { destination, kind, name } = destinationOf(frame);
    const message = new BrokerMessage(destination, frame.headers, frame.body);
    const { router, metrics } = this.context;
    metrics.messagesIn++;
    if (kind === "topic") {
      if (router.publishTopic(name, message) === 0) metrics.unroutable++;
      return;
    }
    declareQueue(this.context, name, {}).enqueue(message);
  }

  private subscribe(h: Record<string, string>): void {
    const destination = h.destination;
    if (!destination) throw new FrameError("SUBSCRIBE needs a destination header");
    const id = h.id ?? (this.version === "1.0" ? destination : undefined);
    if (id === undefined) throw new FrameError("SUBSCRIBE needs an id header");
    if (this.subscriptions.has(id)) throw new FrameError(`subscription id "${id}" is already in use on this connection`);
    if (this.subscriptions.size >= this.context.limits.maxSubscriptions) {
      throw new FrameError(`this connection has ${this.subscriptions.size} subscriptions; the limit is ${this.context.limits.maxSubscriptions}`);
    }
    const ackMode = h.ack ?? "auto";
    if (!ackModes.includes(ackMode)) throw new FrameError(`ack mode "${ackMode}" is not auto, client or client-individual`);
    const { router, limits } = this.context;
    // Without a prefetch, a client that reads but never acknowledges would have the broker keep every message it was sent.
    const prefetch = numericHeader(h["prefetch-count"] ?? h["activemq.prefetchSize"], "prefetch-count") || limits.slowConsumerMessages;
    const { kind, name } = parseDestination(destination);
    let queue: MessageQueue;
    let ownsQueue = false;
    if (kind === "queue") {
      queue = declareQueue(this.context, name, h);
    } else if (h["x-queue-name"]) {
      queue = declareQueue(this.context, h["x-queue-name"], h);
      router.bind(name, queue);
    } else {
      ownsQueue = true;
      queue = new MessageQueue(
        `${this.id}/${id}`,
        { maxLength: limits.slowConsumerMessages, overflow: "reject", expiresMs: 0, autoDelete: false },
        {
          onDrop: () => {},
          onFull: () => {
            this.context.metrics.slowConsumers++;
            this.context.metrics.dropped += queue.depth;
            this.log.warn({ subscription: id, destination, waiting: queue.depth }, "disconnecting a slow consumer");
            this.fail("slow consumer", `${queue.depth} messages were waiting for subscription ${id} (limit ${limits.slowConsumerMessages}); the subscriber must read, and acknowledge if it uses client acks, faster`);
          },
          onUnused: () => {},
        },
      );
      router.bind(name, queue);
    }
    const subscription = new Subscription(this, { id, destination, ackMode: ackMode as AckMode, prefetch, queue, ownsQueue }, this.version);
    this.subscriptions.set(id, subscription);
    queue.addConsumer(subscription);
  }

  private unsubscribe(subscription: Subscription): void {
    subscription.closed = true;
    this.subscriptions.delete(subscription.id);
    const returned: QueuedMessage[] = [];
    for (const [tag, delivery] of subscription.unacked) {
      this.unacked.delete(tag);
      returned.push(delivery.entry);
    }
    subscription.unacked.clear();
    if (subscription.ownsQueue) {
      this.context.router.delete(subscription.queue);
      return;
    }
    subscription.queue.requeue(returned);
    subscription.queue.removeConsumer(subscription);
  }

  private settle(frame: Frame): void {
    const tag = this.ackTag(frame);
    const delivery = this.unacked.get(tag);
    // Already settled, or its subscription is gone and the message went back to its queue: nothing to do.
    if (!delivery) return;
    const subscription = delivery.subscription;
    const settled: Delivery[] = [];
    if (subscription.ackMode === "client") {
      // Cumulative: everything delivered to this subscription up to and including this message.
      for (const [key, each] of subscription.unacked) {
        settled.push(each);
        if (key === tag) break;
      }
    } else {
      settled.push(delivery);
    }
    for (const each of settled) {
      subscription.unacked.delete(each.tag);
      this.unacked.delete(each.tag);
    }
    if (frame.command === "NACK") subscription.queue.requeue(settled.map((each) => each.entry));
    else subscription.queue.dispatch();
  }

  private ackTag(frame: Frame): string {
    const tag = this.version === "1.2" ? frame.headers.id : frame.headers["message-id"];
    if (tag === undefined) throw new FrameError(`${frame.command} needs ${this.version === "1.2" ? "an id" : "a message-id"} header`);
    return tag;
  }

  /** Called by a queue: writes one MESSAGE frame. */
  deliver(subscription: Subscription, entry: QueuedMessage, queue: MessageQueue): void {
    // Unique across the broker, not only this connection, as the spec asks of message-id: a client that
    // reconnects must not see a new message under the id of one it already had.
    const tag = `${this.id}.${++this.deliverySeq}`;
    let head = `MESSAGE\n${subscription.line}message-id:${tag}\n`;
    if (subscription.ackMode !== "auto") {
      if (this.version === "1.2") head += `ack:${tag}\n`;
      const delivery = { tag, entry, queue, subscription };
      subscription.unacked.set(tag, delivery);
      this.unacked.set(tag, delivery);
    }
    if (entry.redelivered) {
      head += "redelivered:true\n";
      this.context.metrics.redelivered++;
    }
    this.context.metrics.messagesOut++;
    // utf8, not latin1: a subscription id may be any text.
    this.write(Buffer.from(head));
    this.write(entry.message.tail(this.version));
  }

  private write(bytes: Buffer): void {
    if (this.state === "closed") return;
    this.cork.hold();
    this.lastWrite = Date.now();
    if (!this.socket.write(bytes)) this.writable = false;
  }

  private drained(): void {
    if (this.state !== "connected") return;
    this.writable = true;
    for (const subscription of this.subscriptions.values()) {
      subscription.queue.dispatch();
      if (!this.writable) break;
    }
  }

  /** Sends ERROR (with what went wrong and how to fix it) and closes, as the spec requires. */
  fail(message: string, detail?: string, receipt?: string, extra: Record<string, string> = {}): void {
    if (this.state === "closed") return;
    this.context.metrics.protocolErrors++;
    this.log.info({ message, detail }, "closing the connection with ERROR");
    const headers: Record<string, string> = { message, "content-type": "text/plain", ...extra };
    if (receipt !== undefined) headers["receipt-id"] = receipt;
    this.write(encodeFrame("ERROR", headers, detail ? `${detail}\n` : "", this.version));
    this.close();
  }

  private internalError(err: unknown): void {
    this.log.error({ err }, "broker error while handling a frame");
    this.fail("internal broker error", "the broker logged the details");
  }

  /** Ends the connection after what was written is flushed. */
  close(): void {
    if (this.state === "closed") return;
    this.cleanup();
    // Read on (and drop what comes) so the peer's FIN is seen; a session paused for its login would not.
    this.socket.resume();
    this.socket.end();
    // A client that does not read its ERROR must not keep the socket open.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Drops the connection at once (broker shutdown). */
  destroy(): void {
    this.cleanup();
    this.socket.destroy();
  }

  private cleanup(): void {
    if (this.state === "closed") return;
    // Flush what was corked this tick (an ERROR or RECEIPT) before the state change stops writes.
    this.cork.release();
    this.state = "closed";
    // Messages one subscription returns to a queue must not go to another of this session's subscriptions.
    this.writable = false;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
    this.transactions.clear();
    this.backlog = [];
    for (const subscription of [...this.subscriptions.values()]) this.unsubscribe(subscription);
  }
}

const frameErrorHint =
  "the broker closes the connection after a frame it cannot read; see the STOMP 1.2 frame grammar, and broker.maxFrameSize, broker.maxHeaders and broker.maxHeaderLength for the limits";
