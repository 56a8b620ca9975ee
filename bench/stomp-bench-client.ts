// The STOMP 1.2 client of bench/broker: a socket and a byte scanner, the same
// for every broker. A general client (stompit, stompjs) spends more per frame
// than a fast broker does, and would measure itself. This one finds a
// MESSAGE's content-length and ack headers without building strings or
// objects, hands the body over as offsets into the received chunk, and
// writes the ACKs for one chunk of deliveries in one write.
import net from "node:net";
import { type Frame, encodeFrame, unescapeHeader } from "../daemons/broker/stomp-frame.ts";

/** A MESSAGE: its body is buf[bodyStart, bodyStart + bodyLength); its ack header buf[ackStart, ackEnd) (escaped), or -1. */
export type MessageListener = (buf: Buffer, bodyStart: number, bodyLength: number, ackStart: number, ackEnd: number) => void;

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const MESSAGE = Buffer.from("MESSAGE");
const CONTENT_LENGTH = Buffer.from("content-length:");
const ACK = Buffer.from("ack:");
const HEAD_END = Buffer.from("\n\n");

export class StompBenchClient {
  /** CONNECTED's server header. */
  server = "";
  /** Called for every MESSAGE; the buffer is only valid during the call. */
  onMessage?: MessageListener;
  /** Called after each received chunk's frames were handled (and its ACKs written). */
  onChunk?: () => void;
  /** The first thing that went wrong: an ERROR frame, or the connection closing unasked. */
  failure?: Error;
  onFailure?: (err: Error) => void;
  private readonly socket: net.Socket;
  private readonly label: string;
  private pending: Buffer = Buffer.alloc(0);
  private acks = "";
  private receiptSeq = 0;
  private readonly receipts = new Map<string, () => void>();
  private connected?: (frame: Frame) => void;
  private closing = false;

  private constructor(socket: net.Socket, label: string) {
    this.socket = socket;
    this.label = label;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.data(chunk));
    socket.on("error", (err) => this.fail(new Error(`${label}: ${err.message}`)));
    socket.on("close", () => {
      if (!this.closing) this.fail(new Error(`${label}: the broker closed the connection`));
    });
  }

  static async connect(url: URL, label: string, timeoutMs = 10_000): Promise<StompBenchClient> {
    const socket = net.connect({ host: url.hostname, port: Number(url.port || 61613) });
    const client = new StompBenchClient(socket, label);
    const connected = new Promise<Frame>((resolve, reject) => {
      client.connected = resolve;
      client.onFailure = reject;
    });
    const headers: Record<string, string> = { "accept-version": "1.2", host: url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : "/", "heart-beat": "0,0" };
    if (url.username) headers.login = decodeURIComponent(url.username);
    if (url.password) headers.passcode = decodeURIComponent(url.password);
    socket.write(encodeFrame("CONNECT", headers));
    const frame = await withTimeout(connected, timeoutMs, `${label}: no CONNECTED from ${url.host} within ${timeoutMs} ms`).catch((err: unknown) => {
      client.destroy();
      throw err;
    });
    client.onFailure = undefined;
    client.server = frame.headers.server ?? "unknown";
    if (frame.headers.version !== "1.2") {
      client.destroy();
      throw new Error(`${label}: ${url.host} answered STOMP ${frame.headers.version ?? "1.0"}; the benchmark speaks 1.2 only`);
    }
    return client;
  }

  /** Sends a frame with a receipt header and resolves when the RECEIPT arrives. */
  request(command: string, headers: Record<string, string>, timeoutMs = 10_000): Promise<void> {
    const receipt = `r${++this.receiptSeq}`;
    const done = new Promise<void>((resolve) => this.receipts.set(receipt, resolve));
    this.socket.write(encodeFrame(command, { ...headers, receipt }));
    return withTimeout(done, timeoutMs, `${this.label}: no RECEIPT for ${command} within ${timeoutMs} ms`);
  }

  /** Writes bytes as they are; false when the socket's buffer is full (see whenDrained). */
  write(bytes: Buffer): boolean {
    return this.socket.write(bytes);
  }

  whenDrained(): Promise<void> {
    return new Promise((resolve) => this.socket.once("drain", resolve));
  }

  /** Queues an ACK of a client-individual delivery; it leaves with the others of this chunk. */
  ack(buf: Buffer, ackStart: number, ackEnd: number): void {
    this.acks += `ACK\nid:${buf.toString("latin1", ackStart, ackEnd)}\n\n\0`;
  }

  /** DISCONNECT with a receipt, as the spec asks, then close. */
  async close(): Promise<void> {
    if (this.closing || this.socket.destroyed) return;
    await this.request("DISCONNECT", {}, 5_000).catch(() => {});
    this.closing = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1_000).unref();
  }

  destroy(): void {
    this.closing = true;
    this.socket.destroy();
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.onFailure?.(err);
  }

  private data(chunk: Buffer): void {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let pos = 0;
    try {
      for (;;) {
        // Heart-beats, and the EOLs some brokers put after a frame's NUL.
        while (pos < buf.length && (buf[pos] === LF || buf[pos] === CR)) pos++;
        if (pos >= buf.length) break;
        const end = this.frame(buf, pos);
        if (end === -1) break;
        pos = end;
      }
    } catch (err) {
      this.fail(err as Error);
      this.destroy();
      return;
    }
    this.pending = pos < buf.length ? buf.subarray(pos) : Buffer.alloc(0);
    if (this.acks.length > 0) {
      this.socket.write(this.acks, "latin1");
      this.acks = "";
    }
    this.onChunk?.();
  }

  /** Handles the frame at `pos`; returns the offset after its NUL, or -1 when it is not all here yet. */
  private frame(buf: Buffer, pos: number): number {
    const headEnd = buf.indexOf(HEAD_END, pos);
    if (headEnd === -1) return -1;
    const commandEnd = buf.indexOf(LF, pos);
    let contentLength = -1;
    let ackStart = -1;
    let ackEnd = -1;
    for (let line = commandEnd + 1; line <= headEnd; ) {
      const eol = buf.indexOf(LF, line);
      if (startsWith(buf, line, CONTENT_LENGTH)) contentLength = digits(buf, line + CONTENT_LENGTH.length, eol);
      else if (startsWith(buf, line, ACK)) {
        ackStart = line + ACK.length;
        ackEnd = eol;
      }
      line = eol + 1;
    }
    const bodyStart = headEnd + 2;
    let bodyEnd: number;
    if (contentLength >= 0) {
      bodyEnd = bodyStart + contentLength;
      if (bodyEnd >= buf.length) return -1;
      if (buf[bodyEnd] !== NUL) throw new Error(`${this.label}: frame body longer than its content-length`);
    } else {
      bodyEnd = buf.indexOf(NUL, bodyStart);
      if (bodyEnd === -1) return -1;
    }
    if (commandEnd - pos === MESSAGE.length && startsWith(buf, pos, MESSAGE)) {
      this.onMessage?.(buf, bodyStart, bodyEnd - bodyStart, ackStart, ackEnd);
    } else {
      this.control(parseFrame(buf, pos, commandEnd, headEnd, bodyStart, bodyEnd));
    }
    return bodyEnd + 1;
  }

  private control(frame: Frame): void {
    switch (frame.command) {
      case "CONNECTED":
        this.connected?.(frame);
        break;
      case "RECEIPT": {
        const id = frame.headers["receipt-id"] ?? "";
        this.receipts.get(id)?.();
        this.receipts.delete(id);
        break;
      }
      case "ERROR":
        this.fail(new Error(`${this.label}: ERROR from the broker: ${frame.headers.message ?? "(no message)"} ${frame.body.toString().trim()}`.trim()));
        break;
      default:
        this.fail(new Error(`${this.label}: unexpected ${frame.command} frame`));
    }
  }
}

function startsWith(buf: Buffer, at: number, prefix: Buffer): boolean {
  if (at + prefix.length > buf.length) return false;
  for (let i = 0; i < prefix.length; i++) if (buf[at + i] !== prefix[i]) return false;
  return true;
}

function digits(buf: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = (buf[i] as number) - 0x30;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
  }
  return n;
}

function parseFrame(buf: Buffer, pos: number, commandEnd: number, headEnd: number, bodyStart: number, bodyEnd: number): Frame {
  const headers: Record<string, string> = {};
  const command = buf.toString("utf8", pos, commandEnd).replace(/\r$/, "");
  if (headEnd > commandEnd) {
    for (const line of buf.toString("utf8", commandEnd + 1, headEnd).split("\n")) {
      const colon = line.indexOf(":");
      if (colon <= 0) continue;
      const name = unescapeHeader(line.slice(0, colon), "1.2");
      if (!(name in headers)) headers[name] = unescapeHeader(line.slice(colon + 1).replace(/\r$/, ""), "1.2");
    }
  }
  return { command, headers, body: buf.subarray(bodyStart, bodyEnd) };
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
