import test from "ava";
import { type FrameLimits, FrameParser } from "../../../daemons/broker/frame-parser.ts";
import { type Frame, FrameError, type StompVersion, encodeFrame, escapeHeader, unescapeHeader } from "../../../daemons/broker/stomp-frame.ts";

const roomy: FrameLimits = { maxFrameBytes: 1024 * 1024, maxHeaders: 64, maxHeaderBytes: 8192 };

function parser(limits: Partial<FrameLimits> = {}, version: StompVersion = "1.2") {
  const frames: Frame[] = [];
  const p = new FrameParser({ ...roomy, ...limits }, (frame) => frames.push(frame));
  p.version = version;
  return { p, frames };
}

function parse(chunks: (string | Buffer)[], limits: Partial<FrameLimits> = {}, version: StompVersion = "1.2"): Frame[] {
  const { p, frames } = parser(limits, version);
  for (const chunk of chunks) p.push(Buffer.from(chunk));
  if (p.buffered !== 0) throw new Error(`the parser still holds ${p.buffered} bytes after complete frames`);
  return frames;
}

/** Comparable shape of a frame: headers as a plain object, body as hex so NUL octets show. */
function shape(frame: Frame) {
  return { command: frame.command, headers: { ...frame.headers }, body: frame.body.toString("hex") };
}

function parseError(chunks: (string | Buffer)[], limits: Partial<FrameLimits> = {}, version: StompVersion = "1.2"): FrameError {
  const { p } = parser(limits, version);
  let caught: unknown;
  try {
    for (const chunk of chunks) p.push(Buffer.from(chunk));
  } catch (err) {
    caught = err;
  }
  if (!(caught instanceof FrameError)) throw new Error(`expected a FrameError, got ${String(caught)}`);
  return caught;
}

// A stream that exercises every part of the grammar: heart-beats before, between
// and after frames, CRLF lines, a body with NUL octets, a body ended by NUL.
const stream = Buffer.concat([
  Buffer.from("\n\r\n"),
  Buffer.from("CONNECT\r\naccept-version:1.2\r\nhost:a\\cb\r\n\r\n\0"),
  Buffer.from("\n\n"),
  Buffer.from("SEND\ndestination:/queue/a\ncontent-length:5\n\nx\0y\0z\0"),
  Buffer.from("\r\n"),
  Buffer.from("SEND\ndestination:/topic/b\nnote:a\\cb\\nc\\\\d\\re\n\nhello\0"),
  Buffer.from("\n"),
  Buffer.from("ACK\r\nid:7\r\n\r\n\0\n"),
]);

const expected = [
  // CONNECT is never unescaped.
  { command: "CONNECT", headers: { "accept-version": "1.2", host: "a\\cb" }, body: "" },
  { command: "SEND", headers: { destination: "/queue/a", "content-length": "5" }, body: Buffer.from("x\0y\0z").toString("hex") },
  { command: "SEND", headers: { destination: "/topic/b", note: "a:b\nc\\d\re" }, body: Buffer.from("hello").toString("hex") },
  { command: "ACK", headers: { id: "7" }, body: "" },
];

test("a stream of frames parses the same whether it arrives whole, split at any byte, or one byte at a time", (t) => {
  t.deepEqual(parse([stream]).map(shape), expected);
  for (let at = 0; at <= stream.length; at++) {
    t.deepEqual(parse([stream.subarray(0, at), stream.subarray(at)]).map(shape), expected, `split at byte ${at}`);
  }
  t.deepEqual(parse([...stream].map((byte) => Buffer.from([byte]))).map(shape), expected);
  // Three pieces at every pair of boundaries around the CRLF and the content-length body.
  for (let a = 0; a < 60; a++) {
    for (let b = a; b < 90; b += 3) {
      const frames = parse([stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]);
      t.is(frames.length, 4);
    }
  }
});

test("a large body arriving in many chunks, with or without content-length, is the same body", (t) => {
  const body = Buffer.alloc(300_000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7919) % 251 || 1;
  const withLength = Buffer.concat([Buffer.from(`SEND\ncontent-length:${body.length + 2}\n\n`), body, Buffer.from([0, 0, 0])]);
  const withNul = Buffer.concat([Buffer.from("SEND\n\n"), body, Buffer.from([0]), Buffer.from("ACK\nid:1\n\n\0")]);
  for (const [bytes, expected] of [
    [withLength, Buffer.concat([body, Buffer.from([0, 0])])],
    [withNul, body],
  ] as const) {
    for (const size of [1000, 65536, 77777]) {
      const chunks = [];
      for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
      const frames = parse(chunks);
      t.true(frames[0]?.body.equals(expected), `chunks of ${size}`);
    }
  }
});

test("heart-beat EOLs alone produce no frame and leave nothing buffered", (t) => {
  const { p, frames } = parser();
  p.push(Buffer.from("\n\n\r\n\n"));
  t.is(frames.length, 0);
  t.is(p.buffered, 0);
  // A CR alone may be the start of a CRLF heart-beat: held, not an error.
  p.push(Buffer.from("\r"));
  t.is(p.buffered, 1);
  p.push(Buffer.from("\nSEND\ndestination:/queue/a\n\n\0"));
  t.is(frames.length, 1);
  t.is(p.buffered, 0);
});

test("CRLF line endings: the CR is not part of the command or of any header value", (t) => {
  const [frame] = parse(["SUBSCRIBE\r\nid:1\r\ndestination:/topic/x\r\nack:client\r\n\r\n\0"]);
  t.deepEqual(shape(frame as Frame), { command: "SUBSCRIBE", headers: { id: "1", destination: "/topic/x", ack: "client" }, body: "" });
  // Mixed within one frame, as the grammar allows per line.
  const [mixed] = parse(["SEND\r\ndestination:/queue/q\nx:1\r\n\nbody\0"]);
  t.deepEqual({ ...mixed?.headers }, { destination: "/queue/q", x: "1" });
  t.is(mixed?.body.toString(), "body");
});

test("content-length: the body may hold NUL octets, and must be followed by NUL", (t) => {
  const body = Buffer.from([0, 1, 0, 0, 255, 0]);
  const [frame] = parse([Buffer.concat([Buffer.from(`SEND\ndestination:/queue/a\ncontent-length:${body.length}\n\n`), body, Buffer.from([0])])]);
  t.true(frame?.body.equals(body));
  const err = parseError(["SEND\ndestination:/queue/a\ncontent-length:2\n\nabc\0"]);
  t.regex(err.message, /longer than its content-length 2/);
  t.regex(parseError(["SEND\ncontent-length:-1\n\n\0"]).message, /content-length "-1" is not a number/);
  t.regex(parseError(["SEND\ncontent-length:12abc\n\n\0"]).message, /is not a number/);
  // content-length:0 with an empty body.
  t.is(parse(["SEND\ncontent-length:0\n\n\0"])[0]?.body.length, 0);
});

test("without content-length the body ends at the first NUL", (t) => {
  const frames = parse(["SEND\ndestination:/queue/a\n\nab\0ACK\nid:1\n\n\0"]);
  t.deepEqual(frames.map(shape), [
    { command: "SEND", headers: { destination: "/queue/a" }, body: Buffer.from("ab").toString("hex") },
    { command: "ACK", headers: { id: "1" }, body: "" },
  ]);
});

test("repeated headers: the first occurrence wins, content-length included", (t) => {
  const [frame] = parse(["SEND\ndestination:/queue/first\nx:1\ndestination:/queue/second\nx:2\ncontent-length:3\ncontent-length:1\n\nabc\0"]);
  t.is(frame?.headers.destination, "/queue/first");
  t.is(frame?.headers.x, "1");
  t.is(frame?.body.toString(), "abc");
});

test("header values may be empty and may contain colons after the first", (t) => {
  const [frame] = parse(["SEND\nempty:\nurl:http://h:1/p\n\n\0"], {}, "1.0");
  t.is(frame?.headers.empty, "");
  t.is(frame?.headers.url, "http://h:1/p");
});

test("escaping by version: 1.0 none, 1.1 without \\r, 1.2 with \\r; CONNECT, CONNECTED and STOMP never", (t) => {
  const value = "a:b\nc\\d\re";
  const headerLine = (version: StompVersion) => encodeFrame("MESSAGE", { k: value }, "", version).toString("utf8").split("\n")[1];
  t.is(escapeHeader(value, "1.2"), "a\\cb\\nc\\\\d\\re");
  t.is(escapeHeader(value, "1.1"), "a\\cb\\nc\\\\d\re");
  t.is(headerLine("1.2"), "k:a\\cb\\nc\\\\d\\re");
  t.is(headerLine("1.1"), "k:a\\cb\\nc\\\\d\re");
  for (const command of ["CONNECT", "CONNECTED", "STOMP"]) {
    const text = encodeFrame(command, { login: "a:b\\c" }, "", "1.2").toString();
    t.true(text.includes("\nlogin:a:b\\c\n"), `${command} is not escaped`);
  }
  const plain = encodeFrame("MESSAGE", { k: "a:b\\c" }, "", "1.0").toString();
  t.true(plain.includes("\nk:a:b\\c\n"), "1.0 is not escaped");
  // Header names are escaped too.
  t.true(encodeFrame("MESSAGE", { "a:b": "c" }, "", "1.2").toString().includes("\na\\cb:c\n"));
});

test("a 1.0 frame cannot carry a line break in a header: it goes out as \\n text, so no header or body can be injected", (t) => {
  const bytes = encodeFrame("MESSAGE", { x: "a\nforged:yes\n\nbody", "bad\nname": "v" }, "real", "1.0");
  const [frame] = parse([bytes], {}, "1.0");
  t.false("forged" in (frame?.headers ?? {}));
  t.is(frame?.body.toString(), "real");
  t.is(frame?.headers.x, "a\\nforged:yes\\n\\nbody");
  t.is(frame?.headers["bad\\nname"], "v");
});

test("encode then parse is the identity for every version's escapable values", (t) => {
  const values: Record<StompVersion, string> = { "1.0": "plain:with colon", "1.1": "a:b\nc\\d", "1.2": "a:b\nc\\d\re\r" };
  for (const version of ["1.0", "1.1", "1.2"] as const) {
    const bytes = encodeFrame("SEND", { destination: "/queue/a", "x:y": "z", k: values[version] }, Buffer.from([0, 1]), version);
    const [frame] = parse([bytes], {}, version);
    t.is(frame?.headers.k, values[version], version);
    if (version !== "1.0") t.is(frame?.headers["x:y"], "z", version);
    t.deepEqual([...(frame?.body ?? [])], [0, 1]);
    t.is(frame?.headers["content-length"], "2");
  }
});

test("unescaping: undefined escape sequences are a FrameError; 1.0 and CONNECT take backslashes literally", (t) => {
  t.is(unescapeHeader("a\\r", "1.2"), "a\r");
  t.throws(() => unescapeHeader("a\\r", "1.1"), { instanceOf: FrameError, message: /undefined escape sequence "\\r"/ });
  t.throws(() => unescapeHeader("a\\t", "1.2"), { instanceOf: FrameError, message: /undefined escape sequence "\\t"/ });
  t.throws(() => unescapeHeader("trailing\\", "1.2"), { instanceOf: FrameError, message: /undefined escape sequence/ });
  t.regex(parseError(["SEND\ndestination:/queue/a\nx:a\\tb\n\n\0"]).message, /undefined escape sequence "\\t"/);
  t.regex(parseError(["SEND\ndestination:/queue/a\nx:a\\rb\n\n\0"], {}, "1.1").message, /undefined escape sequence "\\r"/);
  t.is(parse(["SEND\nx:a\\tb\n\n\0"], {}, "1.0")[0]?.headers.x, "a\\tb");
  t.is(parse(["CONNECT\npasscode:a\\tb\n\n\0"])[0]?.headers.passcode, "a\\tb");
  t.is(parse(["STOMP\npasscode:a\\tb\n\n\0"])[0]?.headers.passcode, "a\\tb");
  // A client parsing the broker's CONNECTED must not unescape it either.
  t.is(parse(["CONNECTED\nserver:deploykit\\1\n\n\0"])[0]?.headers.server, "deploykit\\1");
});

test("malformed command and header lines are FrameErrors that quote the offending line", (t) => {
  t.regex(parseError(["send\n\n\0"]).message, /malformed command line "send"/);
  t.regex(parseError(["SEND\nno-colon\n\n\0"]).message, /malformed header line "no-colon"/);
  t.regex(parseError(["SEND\n:value\n\n\0"]).message, /malformed header line ":value"/);
  t.regex(parseError(["\0\n\n\0"]).message, /malformed command line/);
});

test("limit: a frame larger than maxFrameBytes, by its content-length, fails before its body is buffered", (t) => {
  const { p } = parser({ maxFrameBytes: 100 });
  const error = t.throws(() => p.push(Buffer.from("SEND\ndestination:/queue/a\ncontent-length:1000\n\n")), { instanceOf: FrameError });
  t.regex(error?.message ?? "", /frame of \d+ bytes exceeds the limit of 100/);
});

test("limit: a body without content-length that outgrows maxFrameBytes fails, arriving in pieces or in one chunk", (t) => {
  const head = "SEND\ndestination:/queue/a\n\n";
  const { p } = parser({ maxFrameBytes: 100 });
  p.push(Buffer.from(head));
  p.push(Buffer.alloc(50, "x"));
  t.throws(() => p.push(Buffer.alloc(50, "x")), { instanceOf: FrameError, message: /^frame exceeds the limit of 100 bytes$/ });
  t.true(p.buffered <= 200, "never holds much more than the limit");
  // The same frame whole, NUL included, in a single chunk.
  t.regex(parseError([`${head}${"x".repeat(200)}\0`], { maxFrameBytes: 100 }).message, /^frame exceeds the limit of 100 bytes$/);
  // Exactly at the limit is fine.
  const exact = `${head}${"x".repeat(100 - head.length)}\0`;
  t.is(parse([exact], { maxFrameBytes: 100 }).length, 1);
});

test("limit: more than maxHeaders headers", (t) => {
  const headers = Array.from({ length: 5 }, (_, i) => `h${i}:v\n`).join("");
  t.regex(parseError([`SEND\n${headers}\n\0`], { maxHeaders: 4 }).message, /frame has 5 headers; the limit is 4/);
  t.is(parse([`SEND\n${headers}\n\0`], { maxHeaders: 5 }).length, 1);
});

test("limit: a header line longer than maxHeaderBytes", (t) => {
  t.regex(parseError([`SEND\nx:${"v".repeat(100)}\n\n\0`], { maxHeaderBytes: 50 }).message, /header line of 102 bytes exceeds the limit of 50/);
  t.is(parse([`SEND\nx:${"v".repeat(48)}\n\n\0`], { maxHeaderBytes: 50 }).length, 1);
});

test("limit: headers that never end fail once they exceed what the limits allow, without buffering more", (t) => {
  const { p } = parser({ maxHeaders: 4, maxHeaderBytes: 50 });
  p.push(Buffer.from("SEND\n"));
  let caught: unknown;
  let pushed = 0;
  try {
    for (; pushed < 1000; pushed++) p.push(Buffer.from("x:yyyyyyyyyy\n"));
  } catch (err) {
    caught = err;
  }
  t.true(caught instanceof FrameError);
  t.regex((caught as Error).message, /headers exceed \d+ bytes/);
  t.true(pushed * 13 < 400, `failed after ${pushed} lines`);
  // With a small maxFrameBytes the message names the frame limit.
  t.regex(parseError(["SEND\n", "x".repeat(300)], { maxFrameBytes: 200 }).message, /exceeds the limit of 200 bytes before the end of its headers/);
  // Garbage without a single LF is bounded the same way.
  t.true(parseError([Buffer.alloc(300_000, "A")], { maxHeaders: 4, maxHeaderBytes: 50 }) instanceof FrameError);
});

test("encodeFrame: content-length is always the body's, NUL terminates, and a caller's content-length is ignored", (t) => {
  const bytes = encodeFrame("MESSAGE", { "content-length": "999", a: "b" }, Buffer.from("a\0b"), "1.2");
  t.is(bytes.toString("latin1"), "MESSAGE\na:b\ncontent-length:3\n\na\0b\0");
  t.is(encodeFrame("RECEIPT", { "receipt-id": "7" }).toString("latin1"), "RECEIPT\nreceipt-id:7\n\n\0");
  t.is(encodeFrame("SEND", { destination: "/queue/a" }).toString("latin1"), "SEND\ndestination:/queue/a\ncontent-length:0\n\n\0");
});
