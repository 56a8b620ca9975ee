import { readFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import type { IStompSocket } from "@stomp/stompjs";
import { TickCork } from "../tick-cork.ts";

// @stomp/stompjs speaks to a WebSocket-shaped object. Brokers speak STOMP on
// plain TCP (or TLS), so this adapter presents a socket as that shape: each
// chunk of bytes becomes a message event and the parser reassembles frames.

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

export interface StompSocketOptions {
  caFile?: string;
  insecure: boolean;
}

export function stompSocket(url: URL, options: StompSocketOptions): IStompSocket {
  return new TcpStompSocket(url, options);
}

class TcpStompSocket implements IStompSocket {
  readonly url: string;
  binaryType = "arraybuffer";
  readyState = CONNECTING;
  onclose: ((ev?: unknown) => unknown) | null = null;
  onerror: ((ev: unknown) => unknown) | null = null;
  onmessage: ((ev: unknown) => unknown) | null = null;
  onopen: ((ev?: unknown) => unknown) | null = null;
  private readonly socket: net.Socket;
  private drained?: Promise<void>;
  private readonly cork: TickCork;

  constructor(url: URL, options: StompSocketOptions) {
    this.url = url.href;
    const secure = url.protocol === "stomp+ssl:" || url.protocol === "stomp+tls:";
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port || (secure ? 61614 : 61613));
    this.socket = secure
      ? tls.connect({
          host,
          port,
          servername: net.isIP(host) ? undefined : host,
          ca: options.caFile ? readFileSync(options.caFile) : undefined,
          rejectUnauthorized: !options.insecure,
        })
      : net.connect({ host, port });
    this.socket.setNoDelay(true);
    this.cork = new TickCork(this.socket);
    this.socket.once(secure ? "secureConnect" : "connect", () => {
      this.readyState = OPEN;
      this.onopen?.();
    });
    this.socket.on("data", (chunk: Buffer) => {
      // The parser wants an ArrayBuffer of exactly this chunk, not Node's shared pool slab.
      const data = chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength);
      this.onmessage?.({ data });
    });
    this.socket.on("error", (error) => {
      this.onerror?.(error);
    });
    this.socket.once("close", (hadError) => {
      this.readyState = CLOSED;
      this.onclose?.({ code: hadError ? 1006 : 1000, reason: hadError ? "socket error" : "closed", wasClean: !hadError });
    });
  }

  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
    if (this.readyState !== OPEN) return;
    this.cork.hold();
    if (typeof data === "string") this.socket.write(data);
    else if (ArrayBuffer.isView(data)) this.socket.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    else if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) this.socket.write(new Uint8Array(data));
    else throw new TypeError("Blob frames are not supported over TCP");
  }

  close(): void {
    if (this.readyState >= CLOSING) return;
    this.readyState = CLOSING;
    this.socket.end();
    // A peer that never closes its side must not keep us half-open.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  terminate(): void {
    this.readyState = CLOSING;
    this.socket.destroy();
  }

  /** Bytes waiting in the kernel-side write buffer; lets publishers respect backpressure. */
  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  whenDrained(): Promise<void> {
    if (!this.socket.writableNeedDrain) return Promise.resolve();
    // One waiter per socket, however many publishes are queued behind it.
    this.drained ??= new Promise<void>((resolve) => {
      const done = () => {
        this.socket.off("drain", done);
        this.socket.off("close", done);
        this.drained = undefined;
        resolve();
      };
      this.socket.once("drain", done);
      this.socket.once("close", done);
    });
    return this.drained;
  }
}

export function isDrainable(socket: unknown): socket is { whenDrained(): Promise<void> } {
  return typeof (socket as { whenDrained?: unknown }).whenDrained === "function";
}
