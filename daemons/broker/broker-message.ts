import { type StompVersion, headerLines } from "./stomp-frame.ts";

// Headers a publisher must not set on what subscribers receive: the broker owns them.
const brokerOwned = new Set(["destination", "transaction", "receipt", "content-length", "subscription", "message-id", "ack", "redelivered"]);

/**
 * One published message, shared by every queue and subscriber it reaches.
 * Its headers and body are encoded once per STOMP version, so a fan-out to
 * many subscribers costs one small per-delivery prefix each.
 */
export class BrokerMessage {
  readonly destination: string;
  readonly body: Buffer;
  private readonly headers: [string, string][];
  private readonly tails: Partial<Record<StompVersion, Buffer>> = {};

  constructor(destination: string, sendHeaders: Record<string, string>, body: Buffer) {
    this.destination = destination;
    this.body = body;
    this.headers = [["destination", destination]];
    for (const name in sendHeaders) {
      if (!brokerOwned.has(name)) this.headers.push([name, sendHeaders[name] as string]);
    }
  }

  /** Everything of a MESSAGE frame after its per-delivery headers: message headers, blank line, body, NUL. */
  tail(version: StompVersion): Buffer {
    let tail = this.tails[version];
    if (!tail) {
      const head = Buffer.from(`${headerLines(this.headers, version, version !== "1.0")}content-length:${this.body.length}\n\n`);
      tail = Buffer.allocUnsafe(head.length + this.body.length + 1);
      head.copy(tail, 0);
      this.body.copy(tail, head.length);
      tail[tail.length - 1] = 0;
      this.tails[version] = tail;
    }
    return tail;
  }

  /** Bytes this message holds, for memory accounting. */
  get size(): number {
    return this.body.length + 64 * this.headers.length;
  }
}
