import type {
  BusState,
  Delivery,
  PublishOptions,
  RouteOptions,
  StateChange,
  Transport,
  TransportOptions,
  TransportSubscription,
} from "./transport.ts";
import { TransportDisconnectedError } from "./transport.ts";

// In-process broker for unit tests and single-process runs. Buses created with
// the same `memory://NAME` URL in one process share one hub, so a test can
// have a publisher and subscribers that never touch the network.

interface Message {
  body: string;
  headers: Record<string, string>;
  redelivered: boolean;
}

class Consumer {
  readonly pending: Message[] = [];
  inFlight = 0;
  active = true;
  readonly prefetch: number;
  readonly onDelivery: (delivery: Delivery) => void;
  readonly settled: () => void;
  constructor(prefetch: number, onDelivery: (delivery: Delivery) => void, settled: () => void) {
    this.prefetch = prefetch;
    this.onDelivery = onDelivery;
    this.settled = settled;
  }
}

class Queue {
  readonly consumers: Consumer[] = [];
  readonly backlog: Message[] = [];
  private next = 0;
  readonly route: string;
  readonly maxLength: number;
  readonly durable: boolean;
  constructor(route: string, maxLength: number, durable: boolean) {
    this.route = route;
    this.maxLength = maxLength;
    this.durable = durable;
  }

  enqueue(message: Message): void {
    this.backlog.push(message);
    while (this.backlog.length > this.maxLength) this.backlog.shift();
    this.dispatch();
  }

  dispatch(): void {
    while (this.backlog.length > 0) {
      const ready = this.consumers.filter((c) => c.active && c.inFlight < c.prefetch);
      if (ready.length === 0) return;
      const consumer = ready[this.next++ % ready.length] as Consumer;
      deliver(consumer, this.backlog.shift() as Message, (m) => {
        this.backlog.unshift(m);
        this.dispatch();
      });
    }
  }
}

function deliver(consumer: Consumer, message: Message, requeue: (m: Message) => void): void {
  consumer.inFlight++;
  let settled = false;
  const settle = () => {
    if (settled) return false;
    settled = true;
    consumer.inFlight--;
    return true;
  };
  const delivery: Delivery = {
    body: message.body,
    headers: { ...message.headers },
    redelivered: message.redelivered,
    ack: () => {
      if (settle()) setImmediate(consumer.settled);
    },
    nack: () => {
      if (settle()) setImmediate(() => requeue({ ...message, redelivered: true }));
    },
  };
  // Asynchronous like a network hop, so publishers never re-enter handlers.
  setImmediate(() => {
    if (consumer.active) consumer.onDelivery(delivery);
    else if (settle()) requeue({ ...message, redelivered: true });
  });
}

class Hub {
  readonly queues = new Set<Queue>();
  readonly groups = new Map<string, Queue>();

  publish(route: string, message: Message): void {
    for (const queue of this.queues) if (queue.route === route) queue.enqueue({ ...message });
  }
}

const hubs = new Map<string, Hub>();

function hubFor(url: URL): Hub {
  const key = url.host || url.pathname || "default";
  let hub = hubs.get(key);
  if (!hub) {
    hub = new Hub();
    hubs.set(key, hub);
  }
  return hub;
}

export class MemoryTransport implements Transport {
  readonly protocol = "memory";
  private current: BusState = "connecting";
  private readonly listeners: ((change: StateChange) => void)[] = [];
  private readonly hub: Hub;
  private readonly subscriptions = new Set<{ queue: Queue; consumer: Consumer }>();

  private readonly options: TransportOptions;

  constructor(options: TransportOptions) {
    this.options = options;
    this.hub = hubFor(options.urls[0] as URL);
  }

  get state(): BusState {
    return this.current;
  }

  start(): void {
    setImmediate(() => {
      if (this.current === "connecting") this.setState("connected");
    });
  }

  async publish(body: string, options: PublishOptions): Promise<void> {
    if (this.current !== "connected") throw new TransportDisconnectedError();
    this.hub.publish(options.route, { body, headers: options.headers, redelivered: false });
  }

  async subscribe(options: RouteOptions, onDelivery: (delivery: Delivery) => void): Promise<TransportSubscription> {
    let queue: Queue;
    if (options.groupQueue) {
      queue = this.hub.groups.get(options.groupQueue) ?? new Queue(options.route, this.options.groupMaxLength, true);
      this.hub.groups.set(options.groupQueue, queue);
    } else {
      queue = new Queue(options.route, Number.POSITIVE_INFINITY, false);
    }
    this.hub.queues.add(queue);
    const consumer = new Consumer(options.prefetch, onDelivery, () => queue.dispatch());
    queue.consumers.push(consumer);
    const entry = { queue, consumer };
    this.subscriptions.add(entry);
    queue.dispatch();
    return { unsubscribe: async () => this.detach(entry) };
  }

  private detach(entry: { queue: Queue; consumer: Consumer }): void {
    if (!this.subscriptions.delete(entry)) return;
    entry.consumer.active = false;
    const { queue } = entry;
    queue.consumers.splice(queue.consumers.indexOf(entry.consumer), 1);
    // Like an auto-delete queue: a broadcast queue dies with its subscriber; a group queue waits.
    if (!queue.durable) this.hub.queues.delete(queue);
    else queue.dispatch();
  }

  onState(listener: (change: StateChange) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.current === "closed") return;
    for (const entry of [...this.subscriptions]) this.detach(entry);
    this.setState("closed");
  }

  private setState(state: BusState): void {
    this.current = state;
    for (const listener of this.listeners) listener({ state, url: (this.options.urls[0] as URL).href });
  }
}

export function memoryTransport(options: TransportOptions): Transport {
  return new MemoryTransport(options);
}
