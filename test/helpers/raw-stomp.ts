import net from "node:net";
import { type StompVersion, escapes, unescapeHeader } from "../../daemons/broker/stomp-frame.ts";

// A STOMP client that is only a socket and a byte splitter, written apart from
// the broker's codec so that conformance tests hold the broker's bytes up to
// the grammar rather than to its own parser.

export interface RawFrame {
  command: string;
  /** Every header line in order, repeats included, unescaped for the client's version. */
  lines: [string, string][];
  /** The first occurrence of each header. */
  headers: Record<string, string>;
  body: Buffer;
  /** The frame's exact bytes, from its command to its NUL. */
  raw: Buffer;
}

export interface RawClient {
  readonly socket: net.Socket;
  /** Decides how received headers are unescaped; connectRaw sets it to the version CONNECTED names. */
  version: StompVersion;
  /** Every frame received, in order. */
  readonly frames: RawFrame[];
  /** Frames received and not yet taken by next() or take(). */
  readonly inbox: RawFrame[];
  /** When each heart-beat EOL between frames arrived (Date.now()). */
  readonly heartbeats: number[];
  /** Set once the connection closed (FIN, RST or error). */
  readonly closed: boolean;
  write(bytes: string | Buffer): void;
  /** Takes the oldest unread frame; rejects after timeoutMs, or when the connection closed with nothing left to read. */
  next(timeoutMs?: number): Promise<RawFrame>;
  /** Takes the oldest unread frame that matches, leaving the others unread. */
  take(match: (frame: RawFrame) => boolean, what: string, timeoutMs?: number): Promise<RawFrame>;
  /** Resolves once the connection has closed. */
  waitClosed(timeoutMs?: number): Promise<void>;
  destroy(): void;
}

const LF = 0x0a;
const CR = 0x0d;

/** Opens a TCP connection to 127.0.0.1:port and starts collecting frames; sends nothing. */
export function openRaw(port: number, version: StompVersion = "1.2"): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const frames: RawFrame[] = [];
    const inbox: RawFrame[] = [];
    const heartbeats: number[] = [];
    let pending: Buffer = Buffer.alloc(0);
    let closed = false;
    let broken: Error | undefined;
    const waiters = new Set<() => void>();
    const wake = () => {
      for (const waiter of [...waiters]) waiter();
    };
    const seen = () => frames.map((f) => (f.command === "ERROR" ? `ERROR(${f.headers.message})` : f.command)).join(", ") || "none";
    const until = (predicate: () => boolean, timeoutMs: number, what: string) =>
      new Promise<void>((done, fail) => {
        if (predicate()) {
          done();
          return;
        }
        const waiter = () => {
          if (!predicate()) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          done();
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          fail(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; frames so far: ${seen()}${closed ? " (connection closed)" : ""}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    const client: RawClient = {
      socket,
      version,
      frames,
      inbox,
      heartbeats,
      get closed() {
        return closed;
      },
      write(bytes) {
        socket.write(bytes);
      },
      next(timeoutMs = 5_000) {
        return client.take(() => true, "the next frame", timeoutMs);
      },
      async take(match, what, timeoutMs = 5_000) {
        const find = () => inbox.findIndex(match);
        await until(() => find() !== -1 || closed, timeoutMs, what);
        const at = find();
        if (at === -1) throw broken ?? new Error(`the connection closed before ${what}; frames: ${seen()}`);
        return inbox.splice(at, 1)[0] as RawFrame;
      },
      waitClosed(timeoutMs = 5_000) {
        return until(() => closed, timeoutMs, "the connection to close");
      },
      destroy() {
        socket.destroy();
      },
    };
    socket.on("data", (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      const before = frames.length;
      try {
        pending = split(pending, client.version, frames, heartbeats);
      } catch (err) {
        broken = err as Error;
        socket.destroy();
      }
      inbox.push(...frames.slice(before));
      wake();
    });
    socket.on("close", () => {
      closed = true;
      wake();
    });
    socket.once("connect", () => {
      socket.on("error", () => {});
      resolve(client);
    });
    socket.once("error", reject);
  });
}

/** Opens a connection, sends CONNECT (or STOMP) with `headers` and returns the client once CONNECTED arrived. */
export async function connectRaw(port: number, headers: Record<string, string> = { "accept-version": "1.2" }, command = "CONNECT") {
  const client = await openRaw(port);
  client.write(frame(command, headers));
  const connected = await client.next();
  if (connected.command !== "CONNECTED") {
    client.destroy();
    throw new Error(`expected CONNECTED, got ${connected.command}: ${connected.headers.message} ${connected.body.toString()}`);
  }
  client.version = (connected.headers.version ?? "1.0") as StompVersion;
  return { client, connected };
}

/** Frame bytes as a test writes them: header lines exactly as given (no escaping), LF line endings, NUL at the end. */
export function frame(command: string, headers: Record<string, string | number> | [string, string][] = {}, body: string | Buffer = ""): Buffer {
  const lines = (Array.isArray(headers) ? headers : Object.entries(headers)).map(([name, value]) => `${name}:${value}\n`).join("");
  return Buffer.concat([Buffer.from(`${command}\n${lines}\n`), Buffer.from(body), Buffer.from([0])]);
}

let receiptSeq = 0;

/** Writes `command` with a fresh receipt header and waits for its RECEIPT; an ERROR instead rejects with its message. */
export async function request(
  client: RawClient,
  command: string,
  headers: Record<string, string | number> | [string, string][] = {},
  body: string | Buffer = "",
): Promise<RawFrame> {
  const receipt = `r${++receiptSeq}`;
  client.write(frame(command, Array.isArray(headers) ? [...headers, ["receipt", receipt]] : { ...headers, receipt }, body));
  const answer = await client.take((f) => (f.command === "RECEIPT" && f.headers["receipt-id"] === receipt) || f.command === "ERROR", `RECEIPT ${receipt} of ${command}`);
  if (answer.command === "ERROR") throw new Error(`${command} was refused: ${answer.headers.message}: ${answer.body.toString()}`);
  return answer;
}

export function subscribe(client: RawClient, headers: Record<string, string | number>): Promise<RawFrame> {
  return request(client, "SUBSCRIBE", headers);
}

export function send(client: RawClient, destination: string, body: string | Buffer = "", headers: Record<string, string | number> = {}): Promise<RawFrame> {
  return request(client, "SEND", { destination, ...headers }, body);
}

export function nextMessage(client: RawClient, timeoutMs = 5_000): Promise<RawFrame> {
  return client.take((f) => f.command === "MESSAGE", "a MESSAGE", timeoutMs);
}

/** Waits for an ERROR frame and then for the broker to close the connection, as the spec requires after ERROR. */
export async function errorAndClose(client: RawClient, timeoutMs = 5_000): Promise<RawFrame> {
  const error = await client.take((f) => f.command === "ERROR", "an ERROR frame", timeoutMs);
  await client.waitClosed(timeoutMs);
  return error;
}

/** An ERROR frame's message header and body as one line, for matching. */
export function errorText(error: RawFrame): string {
  return `${error.headers.message} | ${error.body.toString()}`;
}

/** Splits complete frames and heart-beats off the front of `buf`; returns the rest. */
function split(buf: Buffer, version: StompVersion, frames: RawFrame[], heartbeats: number[]): Buffer {
  let at = 0;
  for (;;) {
    if (at < buf.length && buf[at] === LF) {
      heartbeats.push(Date.now());
      at++;
      continue;
    }
    if (at + 1 < buf.length && buf[at] === CR && buf[at + 1] === LF) {
      heartbeats.push(Date.now());
      at += 2;
      continue;
    }
    const headEnd = findBlankLine(buf, at);
    if (headEnd === undefined) break;
    const [commandLine, ...headerLines] = buf.toString("utf8", at, headEnd.linesEnd).split(/\r?\n/);
    const command = commandLine as string;
    if (!/^[A-Z]+$/.test(command)) throw new Error(`the broker sent a malformed command line: ${JSON.stringify(command)}`);
    const escaped = escapes(version, command);
    const lines: [string, string][] = headerLines.map((line) => {
      const colon = line.indexOf(":");
      if (colon < 1) throw new Error(`the broker sent a malformed header line: ${JSON.stringify(line)}`);
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1);
      return escaped ? [unescapeHeader(name, version), unescapeHeader(value, version)] : [name, value];
    });
    const headers: Record<string, string> = {};
    for (const [name, value] of lines) if (!(name in headers)) headers[name] = value;
    let bodyEnd: number;
    if (headers["content-length"] !== undefined) {
      bodyEnd = headEnd.bodyStart + Number(headers["content-length"]);
      if (buf.length <= bodyEnd) break;
      if (buf[bodyEnd] !== 0) throw new Error(`the broker sent no NUL after a ${command} body of content-length ${headers["content-length"]}`);
    } else {
      bodyEnd = buf.indexOf(0, headEnd.bodyStart);
      if (bodyEnd === -1) break;
    }
    frames.push({ command, lines, headers, body: own(buf, headEnd.bodyStart, bodyEnd), raw: own(buf, at, bodyEnd + 1) });
    at = bodyEnd + 1;
  }
  return at === 0 ? buf : own(buf, at, buf.length);
}

/** A copy outside Node's 64 KiB Buffer pool, so frames a test keeps do not pin pool slabs (the fuzz test measures memory). */
function own(buf: Buffer, start: number, end: number): Buffer {
  const copy = Buffer.allocUnsafeSlow(end - start);
  buf.copy(copy, 0, start, end);
  return copy;
}

/** The EOL that ends the last header line and the empty line after it. */
function findBlankLine(buf: Buffer, from: number): { linesEnd: number; bodyStart: number } | undefined {
  for (let lf = buf.indexOf(LF, from); lf !== -1; lf = buf.indexOf(LF, lf + 1)) {
    const linesEnd = lf > from && buf[lf - 1] === CR ? lf - 1 : lf;
    if (buf[lf + 1] === LF) return { linesEnd, bodyStart: lf + 2 };
    if (buf[lf + 1] === CR && buf[lf + 2] === LF) return { linesEnd, bodyStart: lf + 3 };
  }
  return undefined;
}
