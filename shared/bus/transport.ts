// The contract between the generic bus (envelopes, validation, dead letters,
// handler timeouts) and one broker protocol. A transport moves opaque strings.

export type BusState = "connecting" | "connected" | "disconnected" | "closed";

export interface StateChange {
  state: BusState;
  /** The broker URL (password masked) this state refers to. */
  url: string;
  /** Server identification when the broker sent one (STOMP `server` header). */
  server?: string;
  error?: Error;
}

export interface Delivery {
  body: string;
  headers: Record<string, string>;
  redelivered: boolean;
  /** Settle the message as handled. */
  ack(): void;
  /** Give the message back for redelivery. */
  nack(): void;
}

export interface RouteOptions {
  /** Full routing name, e.g. `deploykit.git.commits`. */
  route: string;
  /**
   * Named group: members share messages and the broker keeps messages for an
   * absent group up to `groupMaxLength`. Absent: every subscriber gets every message.
   */
  group?: string;
  /** Full queue name for the group (`deploykit.git.commits.group.NAME`). */
  groupQueue?: string;
  prefetch: number;
}

export interface PublishOptions {
  route: string;
  headers: Record<string, string>;
  /** Wait until the broker has taken responsibility for the message (receipt or confirm). */
  confirm: boolean;
}

export interface TransportSubscription {
  unsubscribe(): Promise<void>;
}

export interface Transport {
  readonly protocol: "memory" | "stomp" | "amqp";
  readonly state: BusState;
  /** Start connecting; reconnects on its own until close(). */
  start(): void;
  /** Throws TransportDisconnectedError when there is no connection right now. */
  publish(body: string, options: PublishOptions): Promise<void>;
  /** Registers a subscription that survives reconnects (resubscribed on each new connection). */
  subscribe(options: RouteOptions, onDelivery: (delivery: Delivery) => void): Promise<TransportSubscription>;
  onState(listener: (change: StateChange) => void): void;
  close(): Promise<void>;
}

export class TransportDisconnectedError extends Error {
  constructor(message = "not connected to the broker") {
    super(message);
    this.name = "TransportDisconnectedError";
  }
}

export interface TransportOptions {
  /** The failover set, all of one protocol, tried in order and round again. */
  urls: URL[];
  login?: string;
  passcode?: string;
  /** STOMP heart-beat / AMQP heartbeat period. */
  heartbeatMs: number;
  reconnect: { initialMs: number; maxMs: number };
  /** Most messages a group queue keeps while no member is there; older ones are dropped first. */
  groupMaxLength: number;
  /** A group queue unused for this long is deleted by the broker (where it can). */
  groupExpiryMs: number;
  /** Give up a single connection attempt after this long. */
  connectTimeoutMs: number;
  tls: { caFile?: string; insecure: boolean };
  log: import("pino").Logger;
}

/** A URL for logs: never prints a password. */
export function safeUrl(url: URL): string {
  const copy = new URL(url.href);
  if (copy.password) copy.password = "***";
  return copy.href;
}
