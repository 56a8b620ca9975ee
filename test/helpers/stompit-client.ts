import type { ExecutionContext } from "ava";
import stompit from "stompit";
import type { RunningBroker } from "../../daemons/broker/start-broker.ts";
import { startTestBroker } from "./embedded-broker.ts";

// stompit, an independent STOMP client, made promise-shaped for tests of the
// embedded broker. stompit 1.0.0 differs from its @types (0.26): messages have
// no ack()/nack() and content-length arrives as a number.

export type Client = stompit.Client;
export type Message = stompit.Client.Message;

export interface Delivery {
  headers: Record<string, string | undefined>;
  body: Buffer;
  message: Message;
  /** stompit 1.0 messages have no ack()/nack() of their own (the @types describe 0.26). */
  ack(): void;
  nack(): void;
}

/** A connected stompit client whose later errors are recorded, not thrown. */
export interface Connection {
  client: Client;
  /** CONNECTED's headers. */
  connected: Record<string, string | undefined>;
  errors: Error[];
}

/** An embedded broker on a free port for one test, closed when the test ends. */
export async function startStompitBroker(t: ExecutionContext): Promise<RunningBroker> {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  return broker;
}

export function connect(t: ExecutionContext, broker: RunningBroker, headers: { "accept-version"?: string; "heart-beat"?: string } = {}): Promise<Connection> {
  const errors: Error[] = [];
  return new Promise((resolve, reject) => {
    const connecting = stompit.connect({ host: "127.0.0.1", port: broker.port, connectHeaders: { host: "/", "heart-beat": "0,0", ...headers } }, (err, client) => {
      if (err) reject(err);
      else resolve({ client, connected: (client as unknown as { headers: Record<string, string | undefined> }).headers, errors });
    });
    connecting.on("error", (error: Error) => errors.push(error));
    routeErrorFrames(connecting);
    t.teardown(() => (connecting as unknown as { destroy(): void }).destroy());
  });
}

type FrameHandler = (this: Client, frame: NodeJS.EventEmitter, ...rest: unknown[]) => void;

/**
 * stompit 1.0.0's handler for a text/plain ERROR frame ends with `this.destroy(error)` inside
 * a `function` listener, so it destroys the frame stream, not the client: the error is thrown
 * as uncaught instead of reaching the client. Route it to the client, where stompit meant it to go.
 */
function routeErrorFrames(client: Client): void {
  const internal = client as unknown as { setCommandHandlers(handlers: Record<string, FrameHandler>): void; destroy(err: Error): void };
  const setCommandHandlers = internal.setCommandHandlers.bind(client);
  internal.setCommandHandlers = (handlers) => {
    const onError = handlers.ERROR;
    if (onError) {
      handlers.ERROR = function (this: Client, frame, ...rest) {
        frame.on("error", (err: Error) => internal.destroy(err));
        onError.call(this, frame, ...rest);
      };
    }
    setCommandHandlers(handlers);
  };
}

/** Resolves once the broker has handled every frame this client sent before it (frames on a connection are handled in order). */
export function flush(client: Client): Promise<void> {
  return new Promise((resolve, reject) => client.begin().abort({ onReceipt: resolve, onError: reject }));
}

export function send(client: Client, headers: Record<string, string | number>, body: Buffer | string, withReceipt = false): Promise<void> {
  return new Promise((resolve, reject) => {
    const frame = withReceipt ? client.send({ ...headers }, { onReceipt: resolve, onError: reject }) : client.send({ ...headers });
    frame.end(body, withReceipt ? undefined : () => resolve());
  });
}

/** Messages of one subscription, in arrival order, bodies read in full. */
export class Inbox {
  readonly received: Delivery[] = [];
  private waiter?: () => void;

  constructor(client: Client, headers: Record<string, string>) {
    client.subscribe({ ...headers }, (err, message) => {
      if (err) return;
      const chunks: Buffer[] = [];
      message.on("data", (chunk: Buffer) => chunks.push(chunk));
      message.on("end", () => {
        this.received.push({
          // stompit turns content-length into a number; the rest stay strings.
          headers: Object.fromEntries(Object.entries((message as unknown as { headers: Record<string, unknown> }).headers).map(([k, v]) => [k, String(v)])),
          body: Buffer.concat(chunks),
          message,
          ack: () => client.ack(message),
          nack: () => client.nack(message),
        });
        this.waiter?.();
      });
    });
  }

  /** Waits until `count` messages in all have arrived. */
  async take(count: number, timeoutMs = 5_000): Promise<Delivery[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`got ${this.received.length} of ${count} messages within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.received.slice(0, count);
  }
}
