// STOMP frames as bytes: the grammar of STOMP 1.0, 1.1 and 1.2 in one place,
// shared by the broker, its tests and the broker benchmark's client.

export type StompVersion = "1.0" | "1.1" | "1.2";

export const supportedVersions: readonly StompVersion[] = ["1.0", "1.1", "1.2"];

export interface Frame {
  command: string;
  /** First occurrence of each header wins, as the spec requires. */
  headers: Record<string, string>;
  body: Buffer;
}

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

const LF = 0x0a;

/**
 * CONNECT and CONNECTED frames are never escaped (so 1.0 clients can read
 * them); 1.0 has no escaping at all; 1.1 escapes \n, : and \\; 1.2 adds \r.
 */
export function escapes(version: StompVersion, command: string): boolean {
  return version !== "1.0" && command !== "CONNECT" && command !== "CONNECTED" && command !== "STOMP";
}

export function escapeHeader(value: string, version: StompVersion): string {
  if (!/[\\\n:\r]/.test(value)) return value;
  let out = value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/:/g, "\\c");
  if (version === "1.2") out = out.replace(/\r/g, "\\r");
  return out;
}

/** Undefined escape sequences are a fatal protocol error (STOMP 1.2, "Value Encoding"). */
export function unescapeHeader(value: string, version: StompVersion): string {
  if (!value.includes("\\")) return value;
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch !== "\\") {
      out += ch;
      continue;
    }
    const next = value[++i];
    if (next === "n") out += "\n";
    else if (next === "c") out += ":";
    else if (next === "\\") out += "\\";
    else if (next === "r" && version === "1.2") out += "\r";
    else throw new FrameError(`undefined escape sequence "\\${next ?? ""}" in a header`);
  }
  return out;
}

/** The header lines of a frame, escaped for `version`, each ending in LF. */
export function headerLines(headers: Iterable<[string, string]>, version: StompVersion, escaped: boolean): string {
  let text = "";
  for (const [name, value] of headers) {
    text += escaped ? `${escapeHeader(name, version)}:${escapeHeader(value, version)}\n` : `${oneLine(name)}:${oneLine(value)}\n`;
  }
  return text;
}

/**
 * An unescaped header (STOMP 1.0, CONNECTED) cannot hold a line break: written raw, a
 * value sent by a 1.1/1.2 publisher would end the line and inject headers (even a
 * content-length) into a 1.0 subscriber's frame. Such breaks go out as \n and \r text.
 */
function oneLine(text: string): string {
  return /[\r\n]/.test(text) ? text.replace(/\r/g, "\\r").replace(/\n/g, "\\n") : text;
}

/** One complete frame. A body always carries content-length so NUL octets in it survive. */
export function encodeFrame(command: string, headers: Record<string, string>, body: Buffer | string = "", version: StompVersion = "1.2"): Buffer {
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  const entries = Object.entries(headers).filter(([name]) => name !== "content-length");
  if (bytes.length > 0 || command === "MESSAGE" || command === "SEND") entries.push(["content-length", String(bytes.length)]);
  const head = Buffer.from(`${command}\n${headerLines(entries, version, escapes(version, command))}\n`);
  const out = Buffer.allocUnsafe(head.length + bytes.length + 1);
  head.copy(out, 0);
  bytes.copy(out, head.length);
  out[out.length - 1] = 0;
  return out;
}

export const heartbeatFrame = Buffer.from([LF]);

/** A header that must be a whole number, when present. */
export function numericHeader(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value.trim())) throw new FrameError(`${name} "${value.slice(0, 20)}" is not a whole number`);
  return Number(value.trim());
}
