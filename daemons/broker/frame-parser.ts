import { type Frame, FrameError, type StompVersion, escapes, unescapeHeader } from "./stomp-frame.ts";

export interface FrameLimits {
  /** Headers plus body, in bytes. */
  maxFrameBytes: number;
  maxHeaders: number;
  /** One header line, name and value, in bytes. */
  maxHeaderBytes: number;
}

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;

/**
 * Turns a byte stream into frames. Bytes may arrive split anywhere; every
 * limit is checked before the bytes that would break it are buffered, so a
 * peer cannot make the broker hold more than one frame's worth of input.
 * The first malformed byte throws a FrameError and the parser is done.
 */
export class FrameParser {
  /** Set by the session once CONNECT negotiated a version; decides header unescaping. */
  version: StompVersion = "1.2";
  private pending: Buffer = Buffer.alloc(0);
  /** Where the search for the end of the headers or the body resumes, relative to `pending`. */
  private scanFrom = 0;
  private head?: { command: string; headers: Record<string, string>; headBytes: number; contentLength?: number };
  /** Chunks of a body that cannot be complete yet, joined to `pending` once it can. */
  private stashed: Buffer[] = [];
  private stashedBytes = 0;
  private readonly limits: FrameLimits;
  private readonly maxHeadBytes: number;
  private readonly onFrame: (frame: Frame) => void;

  constructor(limits: FrameLimits, onFrame: (frame: Frame) => void) {
    this.limits = limits;
    this.onFrame = onFrame;
    // A command line, every allowed header and the blank line.
    this.maxHeadBytes = Math.min(limits.maxFrameBytes, 64 + limits.maxHeaders * (limits.maxHeaderBytes + 2) + 2);
  }

  push(chunk: Buffer): void {
    if (this.head && this.stash(chunk)) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let offset = 0;
    for (;;) {
      const used = this.step(offset);
      if (used === undefined) break;
      offset = used;
    }
    if (offset > 0) {
      this.pending = this.pending.subarray(offset);
      this.scanFrom = Math.max(0, this.scanFrom - offset);
    }
  }

  /** Bytes held waiting for the rest of a frame. */
  get buffered(): number {
    return this.pending.length + this.stashedBytes;
  }

  /**
   * Keeps a body chunk aside while the body cannot be complete: joining every
   * chunk to what came before costs quadratic time on a large frame (a 4 MiB
   * body in 64 KiB reads was 64 copies of up to 4 MiB). Returns whether it did.
   */
  private stash(chunk: Buffer): boolean {
    const head = this.head as NonNullable<FrameParser["head"]>;
    const held = this.pending.length + this.stashedBytes + chunk.length;
    const complete = head.contentLength !== undefined ? held > head.contentLength : chunk.includes(NUL);
    if (!complete) {
      if (head.contentLength === undefined && head.headBytes + held > this.limits.maxFrameBytes) throw new FrameError(`frame exceeds the limit of ${this.limits.maxFrameBytes} bytes`);
      this.stashed.push(chunk);
      this.stashedBytes += chunk.length;
      return true;
    }
    if (this.stashedBytes > 0) {
      // The stashed chunks hold no NUL: the search resumes at the chunk that completes the body.
      this.scanFrom = this.pending.length + this.stashedBytes;
      this.pending = Buffer.concat([this.pending, ...this.stashed]);
      this.stashed = [];
      this.stashedBytes = 0;
    }
    return false;
  }

  /**
   * Consumes what it can at `offset`: heart-beat EOLs, a frame's headers, or
   * its body. Returns the offset after what it consumed, or undefined when it
   * needs more bytes.
   */
  private step(offset: number): number | undefined {
    const buf = this.pending;
    const head = this.head;
    if (!head) {
      let start = offset;
      // Heart-beats, and the optional EOLs after a frame's NUL.
      while (start < buf.length && (buf[start] === LF || (buf[start] === CR && buf[start + 1] === LF))) start += buf[start] === CR ? 2 : 1;
      const progress = start > offset ? start : undefined;
      if (start >= buf.length || (buf[start] === CR && start + 1 === buf.length)) return progress;
      const end = this.headEnd(buf, start);
      if (end === undefined) {
        if (buf.length - start > this.maxHeadBytes) {
          throw new FrameError(
            this.maxHeadBytes === this.limits.maxFrameBytes
              ? `frame exceeds the limit of ${this.limits.maxFrameBytes} bytes before the end of its headers`
              : `frame headers exceed ${this.maxHeadBytes} bytes (limit: ${this.limits.maxHeaders} headers of ${this.limits.maxHeaderBytes} bytes)`,
          );
        }
        this.scanFrom = Math.max(start, buf.length - 2);
        return progress;
      }
      this.head = this.parseHead(buf, start, end.linesEnd, end.bodyStart);
      this.scanFrom = end.bodyStart;
      return end.bodyStart;
    }
    let bodyEnd: number;
    if (head.contentLength !== undefined) {
      bodyEnd = offset + head.contentLength;
      if (buf.length <= bodyEnd) return undefined;
      if (buf[bodyEnd] !== NUL) throw new FrameError(`frame body is longer than its content-length ${head.contentLength}: expected NUL after it`);
    } else {
      const nul = buf.indexOf(NUL, Math.max(offset, this.scanFrom));
      if (nul === -1) {
        if (head.headBytes + buf.length - offset > this.limits.maxFrameBytes) throw new FrameError(`frame exceeds the limit of ${this.limits.maxFrameBytes} bytes`);
        this.scanFrom = buf.length;
        return undefined;
      }
      // A whole body can arrive in one chunk, NUL included, without passing the check above.
      if (head.headBytes + nul - offset > this.limits.maxFrameBytes) throw new FrameError(`frame exceeds the limit of ${this.limits.maxFrameBytes} bytes`);
      bodyEnd = nul;
    }
    this.head = undefined;
    this.scanFrom = 0;
    // A copy, so a large input chunk is not kept alive by one small body.
    this.onFrame({ command: head.command, headers: head.headers, body: Buffer.from(buf.subarray(offset, bodyEnd)) });
    return bodyEnd + 1;
  }

  /** Finds the blank line that ends the headers, resuming where the last search stopped. */
  private headEnd(buf: Buffer, start: number): { linesEnd: number; bodyStart: number } | undefined {
    let at = Math.max(start, this.scanFrom);
    for (;;) {
      const lf = buf.indexOf(LF, at);
      if (lf === -1) return undefined;
      if (buf[lf + 1] === LF) return { linesEnd: lf, bodyStart: lf + 2 };
      if (buf[lf + 1] === CR) {
        if (lf + 2 >= buf.length) return undefined;
        if (buf[lf + 2] === LF) return { linesEnd: lf, bodyStart: lf + 3 };
      }
      if (lf + 1 >= buf.length) return undefined;
      at = lf + 1;
    }
  }

  private parseHead(buf: Buffer, start: number, linesEnd: number, bodyStart: number) {
    const lines = buf.toString("utf8", start, linesEnd).split("\n");
    const command = stripCR(lines[0] as string);
    if (!/^[A-Z]{1,32}$/.test(command)) throw new FrameError(`malformed command line "${command.slice(0, 40)}"`);
    const headerCount = lines.length - 1;
    if (headerCount > this.limits.maxHeaders) throw new FrameError(`frame has ${headerCount} headers; the limit is ${this.limits.maxHeaders}`);
    // CONNECTED too: clients of the broker (its tests, the benchmark) read its frames with this parser.
    const escaped = escapes(this.version, command);
    const headers: Record<string, string> = Object.create(null);
    for (let i = 1; i < lines.length; i++) {
      const line = stripCR(lines[i] as string);
      if (Buffer.byteLength(line) > this.limits.maxHeaderBytes) {
        throw new FrameError(`header line of ${Buffer.byteLength(line)} bytes exceeds the limit of ${this.limits.maxHeaderBytes}`);
      }
      const colon = line.indexOf(":");
      if (colon <= 0) throw new FrameError(`malformed header line "${line.slice(0, 60)}": expected name:value`);
      const name = escaped ? unescapeHeader(line.slice(0, colon), this.version) : line.slice(0, colon);
      const value = escaped ? unescapeHeader(line.slice(colon + 1), this.version) : line.slice(colon + 1);
      if (!(name in headers)) headers[name] = value;
    }
    let contentLength: number | undefined;
    const declared = headers["content-length"];
    if (declared !== undefined) {
      if (!/^\d{1,15}$/.test(declared.trim())) throw new FrameError(`content-length "${declared.slice(0, 20)}" is not a number of bytes`);
      contentLength = Number(declared.trim());
    }
    const size = bodyStart - start + (contentLength ?? 0);
    if (size > this.limits.maxFrameBytes) throw new FrameError(`frame of ${size} bytes exceeds the limit of ${this.limits.maxFrameBytes}`);
    return { command, headers, headBytes: bodyStart - start, contentLength };
  }
}

function stripCR(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}
