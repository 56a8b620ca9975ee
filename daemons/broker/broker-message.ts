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
  private bytes: Buffer;
  private readonly headers: [string, string][];
  private readonly tails: Partial<Record<StompVersion, Buffer>> = {};
  private retained = false;

  constructor(destination: string, sendHeaders: Record<string, string>, body: Buffer) {
    this.destination = destination;
    this.bytes = body;
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
      const length = head.length + this.body.length + 1;
      tail = this.retained ? Buffer.allocUnsafeSlow(length) : Buffer.allocUnsafe(length);
      head.copy(tail, 0);
      this.body.copy(tail, head.length);
      tail[tail.length - 1] = 0;
      this.tails[version] = tail;
    }
    return tail;
  }

  get body(): Buffer {
    return this.bytes;
  }

  /**
   * Called when the message is to wait in a queue. Small Buffers are cut from
   * 64 KiB pool slabs (Buffer.poolSize in Node 24) shared with short-lived
   * ones, so a queue of small messages kept for long would pin a slab for each:
   * a waiting message gets memory of its own. Messages delivered at once keep
   * the cheap pooled buffers.
   */
  retain(): void {
    if (this.retained) return;
    this.retained = true;
    this.bytes = unpooled(this.bytes);
    for (const version of Object.keys(this.tails) as StompVersion[]) this.tails[version] = unpooled(this.tails[version] as Buffer);
  }

  /** Bytes this message holds, for memory accounting. */
  get size(): number {
    return this.body.length + 64 * this.headers.length;
  }
}

function unpooled(bytes: Buffer): Buffer {
  if (bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length) return bytes;
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}
