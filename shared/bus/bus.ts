import type { Logger } from "pino";
import type { BodyInputOfName, BodyOfName, Envelope, Source, TopicName } from "../messages/index.ts";
import type { KeptFields } from "./envelope-codec.ts";
import type { BusState, StateChange } from "./transport.ts";

export type { BusState, StateChange } from "./transport.ts";

export interface PublishOptions {
  /** Follow one change across the swarm; defaults to the new message's own id. */
  correlationId?: string;
  /** Wait for the broker's receipt/confirm (default from bus options). */
  confirm?: boolean;
  /** How long to wait for a connection before rejecting (default from bus options). */
  timeoutMs?: number;
  /**
   * Send a message built earlier under its original id, time and source
   * instead of new ones: what `deploykit spool flush` does with a spooled
   * envelope, so the message that finally arrives is the one that was printed
   * and logged when it was spooled. The body is validated as usual.
   */
  envelope?: KeptFields;
}

export interface HandlerContext {
  log: Logger;
  /** Aborted when the handler timed out or the bus is closing. */
  signal: AbortSignal;
  redelivered: boolean;
  headers: Record<string, string>;
}

export type Handler<B> = (message: Envelope<B>, context: HandlerContext) => Promise<void> | void;

export interface SubscribeOptions {
  /** Share messages with the other members of this group (see docs/bus.md). */
  group?: string;
  handlerTimeoutMs?: number;
  /** Handlers running at once for this subscription; 1 keeps publisher order. */
  concurrency?: number;
  /**
   * Copy invalid messages to `deadletter` (default). An observer such as
   * `deploykit tail` turns this off so it does not duplicate every dead letter.
   */
  deadletter?: boolean;
  /** Called for each message that failed validation (after it was dead-lettered). */
  onInvalid?: (reason: string, raw: string) => void;
}

export interface Subscription {
  unsubscribe(): Promise<void>;
}

export interface Bus {
  readonly state: BusState;
  readonly source: Source;
  /** The broker URLs, passwords masked. */
  readonly description: string;
  /** Validates the body (a bad body is a programming error and throws), wraps it, publishes it. */
  publish<T extends TopicName>(topic: T, body: BodyInputOfName<T>, options?: PublishOptions): Promise<Envelope<BodyOfName<T>>>;
  subscribe<T extends TopicName>(topic: T, handler: Handler<BodyOfName<T>>, options?: SubscribeOptions): Promise<Subscription>;
  /** Resolves once connected; rejects after timeoutMs. */
  connected(timeoutMs: number): Promise<void>;
  onState(listener: (change: StateChange) => void): void;
  /** Stops taking messages, lets in-flight handlers finish for up to graceMs, disconnects. */
  close(options?: { graceMs?: number }): Promise<void>;
}

export class BusUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BusUnavailableError";
  }
}

export class InvalidMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidMessageError";
  }
}
