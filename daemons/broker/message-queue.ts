import type { BrokerMessage } from "./broker-message.ts";

export interface QueuedMessage {
  message: BrokerMessage;
  redelivered: boolean;
}

/** A subscription that takes messages from a queue. */
export interface Consumer {
  /** Room under its prefetch, and a socket that is not backed up. */
  canTake(): boolean;
  take(entry: QueuedMessage, queue: MessageQueue): void;
}

export interface QueueArgs {
  /** Most messages waiting; what happens beyond it is `overflow`. */
  maxLength: number;
  /** drop-head: the oldest waiting message is dropped (shared queues); reject: the queue's owner is told (a private subscription's slow consumer). */
  overflow: "drop-head" | "reject";
  /** Deleted after this long without consumers; 0 never. */
  expiresMs: number;
  /** Deleted when its last consumer leaves. */
  autoDelete: boolean;
}

/**
 * Messages waiting for consumers, handed out round-robin to consumers with
 * room. A plain topic subscription is a private queue with one consumer; a
 * group is a named queue shared by its members, as in RabbitMQ.
 */
export class MessageQueue {
  readonly name: string;
  readonly args: QueueArgs;
  readonly consumers: Consumer[] = [];
  /** A deque: items[head..] are waiting. */
  private items: QueuedMessage[] = [];
  private head = 0;
  private turn = 0;
  private expiry?: NodeJS.Timeout;
  private readonly hooks: { onDrop(queue: MessageQueue): void; onFull(queue: MessageQueue): void; onUnused(queue: MessageQueue): void };

  constructor(name: string, args: QueueArgs, hooks: MessageQueue["hooks"]) {
    this.name = name;
    this.args = args;
    this.hooks = hooks;
    this.armExpiry();
  }

  get depth(): number {
    return this.items.length - this.head;
  }

  enqueue(message: BrokerMessage): void {
    const entry = { message, redelivered: false };
    if (this.depth === 0 && this.offer(entry)) return;
    if (this.depth >= this.args.maxLength) {
      if (this.args.overflow === "reject") {
        this.hooks.onFull(this);
        return;
      }
      this.hooks.onDrop(this);
      // x-max-length 0 keeps nothing: the new message is the one to drop.
      if (this.depth === 0) return;
      this.shift();
    }
    message.retain();
    this.items.push(entry);
  }

  /** Messages a consumer took but did not acknowledge go back to the front, marked redelivered. */
  requeue(entries: QueuedMessage[]): void {
    if (entries.length === 0) return;
    const waiting = this.items.slice(this.head);
    for (const entry of entries) entry.message.retain();
    this.items = [...entries.map((entry) => ({ message: entry.message, redelivered: true })), ...waiting];
    this.head = 0;
    this.dispatch();
    if (this.depth > this.args.maxLength && this.args.overflow === "reject") {
      this.hooks.onFull(this);
      return;
    }
    while (this.depth > this.args.maxLength) {
      this.shift();
      this.hooks.onDrop(this);
    }
  }

  /** Hands waiting messages to consumers that have room. */
  dispatch(): void {
    while (this.depth > 0) {
      const entry = this.items[this.head] as QueuedMessage;
      if (!this.offer(entry)) return;
      this.shift();
    }
  }

  addConsumer(consumer: Consumer): void {
    this.consumers.push(consumer);
    clearTimeout(this.expiry);
    this.expiry = undefined;
    this.dispatch();
  }

  removeConsumer(consumer: Consumer): void {
    const at = this.consumers.indexOf(consumer);
    if (at !== -1) this.consumers.splice(at, 1);
    if (this.consumers.length > 0) return;
    if (this.args.autoDelete) this.hooks.onUnused(this);
    else this.armExpiry();
  }

  /** Drops every waiting message; the queue is going away. */
  clear(): void {
    clearTimeout(this.expiry);
    this.items = [];
    this.head = 0;
  }

  /** Gives `entry` to the next consumer, in turn, that has room. */
  private offer(entry: QueuedMessage): boolean {
    const count = this.consumers.length;
    for (let i = 0; i < count; i++) {
      const consumer = this.consumers[(this.turn + i) % count] as Consumer;
      if (consumer.canTake()) {
        this.turn = (this.turn + i + 1) % count;
        consumer.take(entry, this);
        return true;
      }
    }
    return false;
  }

  private shift(): void {
    this.items[this.head] = undefined as unknown as QueuedMessage;
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  private armExpiry(): void {
    if (this.args.expiresMs <= 0 || this.consumers.length > 0) return;
    clearTimeout(this.expiry);
    this.expiry = setTimeout(() => this.hooks.onUnused(this), this.args.expiresMs);
    this.expiry.unref();
  }
}
