import type { Consumer, MessageQueue, QueuedMessage } from "./message-queue.ts";
import { type StompVersion, escapeHeader } from "./stomp-frame.ts";

/** The connection a subscription belongs to: whether it can write now, and how it writes a MESSAGE. */
export interface SubscriptionOwner {
  readonly writable: boolean;
  deliver(subscription: Subscription, entry: QueuedMessage, queue: MessageQueue): void;
}

export type AckMode = "auto" | "client" | "client-individual";
export const ackModes: readonly string[] = ["auto", "client", "client-individual"];

export interface Delivery {
  tag: string;
  entry: QueuedMessage;
  queue: MessageQueue;
  subscription: Subscription;
}

export class Subscription implements Consumer {
  readonly id: string;
  readonly destination: string;
  readonly ackMode: AckMode;
  /** Most unacknowledged deliveries; 0: no limit. */
  readonly prefetch: number;
  readonly queue: MessageQueue;
  /** A plain topic subscription owns its queue; a group or /queue/ member shares one. */
  readonly ownsQueue: boolean;
  readonly unacked = new Map<string, Delivery>();
  /** `subscription:ID\n`, escaped for the session's version. */
  readonly line: string;
  closed = false;
  private readonly session: SubscriptionOwner;

  constructor(session: SubscriptionOwner, init: Pick<Subscription, "id" | "destination" | "ackMode" | "prefetch" | "queue" | "ownsQueue">, version: StompVersion) {
    this.session = session;
    this.id = init.id;
    this.destination = init.destination;
    this.ackMode = init.ackMode;
    this.prefetch = init.prefetch;
    this.queue = init.queue;
    this.ownsQueue = init.ownsQueue;
    this.line = `subscription:${version === "1.0" ? this.id : escapeHeader(this.id, version)}\n`;
  }

  canTake(): boolean {
    return !this.closed && this.session.writable && (this.ackMode === "auto" || this.prefetch === 0 || this.unacked.size < this.prefetch);
  }

  take(entry: QueuedMessage, queue: MessageQueue): void {
    this.session.deliver(this, entry, queue);
  }
}
