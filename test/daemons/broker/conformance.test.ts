import test from "ava";
import { hashPassword } from "../../../daemons/broker/authenticator.ts";
import { rawBroker as broker, rawClient as client, rawSocket as open } from "../../helpers/raw-broker.ts";
import { connectRaw, errorAndClose, frame, nextMessage, request, send, subscribe } from "../../helpers/raw-stomp.ts";
import { waitFor } from "../../helpers/test-bus.ts";

// STOMP conformance over raw TCP: the frames a test writes are literal bytes,
// and what the broker answers is checked against the grammar of STOMP 1.0-1.2.
// Destinations, acks, transactions and groups are in conformance-messaging.test.ts;
// limits, authentication and /metrics in conformance-limits.test.ts.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- CONNECT and version negotiation -------------------------------------------------

test("CONNECT without accept-version is STOMP 1.0: CONNECTED says version:1.0, unescaped, without heart-beat", async (t) => {
  const b = await broker(t);
  const c = await open(t, b);
  c.write("CONNECT\nlogin:\npasscode:\nheart-beat:100,100\n\n\0");
  const connected = await c.next();
  t.is(connected.command, "CONNECTED");
  t.is(connected.headers.version, "1.0");
  t.false("heart-beat" in connected.headers, "1.0 has no heart-beating");
  t.is(connected.headers.server, "deploykit/test");
  t.regex(connected.headers.session ?? "", /^s\d+$/);
  t.regex(connected.raw.toString("latin1"), /^CONNECTED\nversion:1\.0\n(?:[a-z-]+:[^\n]*\n)*\n\0$/);
  // And it works as 1.0: SUBSCRIBE without id, the destination is the id.
  c.version = "1.0";
  await request(c, "SUBSCRIBE", { destination: "/topic/ten" });
  await send(c, "/topic/ten", "ok");
  const message = await nextMessage(c);
  t.is(message.headers.subscription, "/topic/ten");
});

test("version negotiation picks the highest version both sides speak", async (t) => {
  const b = await broker(t);
  for (const [offered, agreed] of [
    ["1.0,1.1", "1.1"],
    ["1.1,1.0,1.2", "1.2"],
    ["1.2", "1.2"],
    [" 1.1 , 2.0", "1.1"],
    ["1.0", "1.0"],
  ] as const) {
    const { client: c, connected } = await connectRaw(b.port, { "accept-version": offered, host: "/" });
    t.is(connected.headers.version, agreed, `accept-version:${offered}`);
    c.destroy();
  }
});

test("no common version: ERROR with a version header listing what the broker speaks, then the connection closes", async (t) => {
  const b = await broker(t);
  const c = await open(t, b);
  c.write(frame("CONNECT", { "accept-version": "2.0,3.1", host: "/" }));
  const error = await errorAndClose(c);
  t.is(error.headers.message, "unsupported STOMP version");
  t.is(error.headers.version, "1.0,1.1,1.2");
  t.regex(error.body.toString(), /accepts 2\.0,3\.1/);
  t.is(error.headers["content-type"], "text/plain");
});

test("the STOMP command connects like CONNECT", async (t) => {
  const b = await broker(t);
  const { client: c, connected } = await connectRaw(b.port, { "accept-version": "1.1,1.2", host: "localhost" }, "STOMP");
  t.teardown(() => c.destroy());
  t.is(connected.command, "CONNECTED");
  t.is(connected.headers.version, "1.2");
  await subscribe(c, { id: "1", destination: "/topic/stomp-command" });
});

test("a first frame other than CONNECT or STOMP is refused", async (t) => {
  const b = await broker(t);
  const c = await open(t, b);
  c.write(frame("SEND", { destination: "/topic/x" }, "early"));
  const error = await errorAndClose(c);
  t.is(error.headers.message, "not connected");
  t.regex(error.body.toString(), /first frame must be CONNECT or STOMP, not SEND/);
});

test("a second CONNECT on a connected session is an error", async (t) => {
  const b = await broker(t);
  const c = await client(t, b);
  c.write(frame("CONNECT", { "accept-version": "1.2" }));
  t.is((await errorAndClose(c)).headers.message, "already connected");
});

test("a connection that sends no CONNECT in time gets ERROR and is closed, even with half a frame sent", async (t) => {
  const b = await broker(t, { connectTimeoutMs: 500 });
  const silent = await open(t, b);
  const partial = await open(t, b);
  partial.write("CONNECT\naccept-ver");
  const started = Date.now();
  for (const c of [silent, partial]) {
    const error = await errorAndClose(c);
    t.is(error.headers.message, "no CONNECT frame received in time");
    t.regex(error.body.toString(), /connect within 500 ms/);
  }
  t.true(Date.now() - started >= 300, "not before the timeout");
});

// ---- Heart-beats ----------------------------------------------------------------------

test("heart-beat negotiation: CONNECTED offers the broker's period; 0 switches them off", async (t) => {
  const b = await broker(t, { heartbeatMs: 1000 });
  const { client: c, connected } = await connectRaw(b.port, { "accept-version": "1.2", "heart-beat": "0,0" });
  c.destroy();
  t.is(connected.headers["heart-beat"], "1000,1000");
  const off = await broker(t, { heartbeatMs: 0 });
  const { client: d, connected: offConnected } = await connectRaw(off.port, { "accept-version": "1.2", "heart-beat": "100,100" });
  d.destroy();
  t.is(offConnected.headers["heart-beat"], "0,0");
});

test("the broker sends heart-beats at the negotiated period: max(its own, what the client asks)", async (t) => {
  const b = await broker(t, { heartbeatMs: 200 });
  const fast = await client(t, b, { "accept-version": "1.2", "heart-beat": "0,400" });
  const slow = await client(t, b, { "accept-version": "1.2", "heart-beat": "0,2500" });
  const slowConnected = Date.now();
  const none = await client(t, b, { "accept-version": "1.2", "heart-beat": "0,0" });
  await sleep(1000);
  // At 2500 ms agreed, the first beat is due no earlier than 1250 ms after CONNECTED.
  t.is(slow.heartbeats.filter((at) => at - slowConnected < 800).length, 0, "the slower period of the two wins");
  await waitFor(() => fast.heartbeats.length >= 4, 5_000, "four heart-beats at 400 ms");
  await waitFor(() => slow.heartbeats.length >= 1, 5_000, "a heart-beat at 2500 ms");
  t.is(none.heartbeats.length, 0, "no heart-beats to a client that asked for none");
  t.is(fast.frames.length, 1, "heart-beats are bare EOLs, not frames");
});

test("the broker closes with ERROR when the client's heart-beats stop, and not while they come", async (t) => {
  const b = await broker(t, { heartbeatMs: 500 });
  const started = Date.now();
  const quiet = await client(t, b, { "accept-version": "1.2", "heart-beat": "500,0" });
  const beating = await client(t, b, { "accept-version": "1.2", "heart-beat": "500,0" });
  const lax = await client(t, b, { "accept-version": "1.2", "heart-beat": "2000,0" });
  const timer = setInterval(() => beating.write("\n"), 100);
  t.teardown(() => clearInterval(timer));
  const error = await errorAndClose(quiet, 10_000);
  t.is(error.headers.message, "heart-beat timeout");
  t.regex(error.body.toString(), /heart-beats were agreed every 500 ms/);
  t.true(Date.now() - started >= 900, "allows twice the period before giving up");
  t.false(lax.closed, "a client that agreed to 2000 ms is not held to 500 ms");
  // CRLF heart-beats count too.
  clearInterval(timer);
  const crlf = setInterval(() => beating.write("\r\n"), 100);
  t.teardown(() => clearInterval(crlf));
  await sleep(1200);
  await subscribe(beating, { id: "alive", destination: "/topic/alive" });
  t.false(beating.closed);
  await errorAndClose(lax, 10_000);
  t.is(b.stats().counters.heartbeatTimeouts, 2);
});

test("a malformed heart-beat header is refused", async (t) => {
  const b = await broker(t);
  const c = await open(t, b);
  c.write(frame("CONNECT", { "accept-version": "1.2", "heart-beat": "fast" }));
  const error = await errorAndClose(c);
  t.is(error.headers.message, "malformed heart-beat header");
  t.regex(error.body.toString(), /expected "cx,cy"/);
});

// ---- Receipts -------------------------------------------------------------------------

test("every frame with a receipt header gets a RECEIPT naming it, DISCONNECT included, in order", async (t) => {
  const b = await broker(t);
  const c = await client(t, b);
  const publisher = await client(t, b);
  const ids = ["sub", "send", "begin", "tx-send", "commit", "begin2", "abort", "ack", "nack", "unsub"];
  c.write(frame("SUBSCRIBE", { id: "1", destination: "/queue/receipts", ack: "client-individual", receipt: "sub" }));
  t.is((await c.next()).headers["receipt-id"], "sub");
  await send(publisher, "/queue/receipts", "one");
  await send(publisher, "/queue/receipts", "two");
  const first = await nextMessage(c);
  const second = await nextMessage(c);
  c.write(
    Buffer.concat([
      frame("SEND", { destination: "/topic/nobody", receipt: "send" }, "x"),
      frame("BEGIN", { transaction: "t1", receipt: "begin" }),
      frame("SEND", { destination: "/topic/nobody", transaction: "t1", receipt: "tx-send" }),
      frame("COMMIT", { transaction: "t1", receipt: "commit" }),
      frame("BEGIN", { transaction: "t2", receipt: "begin2" }),
      frame("ABORT", { transaction: "t2", receipt: "abort" }),
      frame("ACK", { id: first.headers.ack as string, receipt: "ack" }),
      frame("NACK", { id: second.headers.ack as string, receipt: "nack" }),
      frame("UNSUBSCRIBE", { id: "1", receipt: "unsub" }),
    ]),
  );
  const receipts: string[] = [];
  while (receipts.length < ids.length - 1) {
    const f = await c.take((x) => x.command === "RECEIPT", "receipts");
    receipts.push(f.headers["receipt-id"] as string);
  }
  t.deepEqual(["sub", ...receipts], ids);
  c.write(frame("DISCONNECT", { receipt: "bye:1" }));
  const bye = await c.take((f) => f.command === "RECEIPT", "the DISCONNECT receipt");
  t.is(bye.raw.toString("latin1"), "RECEIPT\nreceipt-id:bye\\c1\n\n\0", "exact bytes; the value is escaped in 1.2");
  t.is(bye.headers["receipt-id"], "bye:1");
  await c.waitClosed();
});

test("DISCONNECT without a receipt closes the connection quietly", async (t) => {
  const b = await broker(t);
  const c = await client(t, b);
  c.write(frame("DISCONNECT"));
  await c.waitClosed();
  t.is(c.frames.length, 1, "only CONNECTED");
  await waitFor(() => b.stats().connections === 0, 5_000, "the session to go");
});

// ---- ERROR ----------------------------------------------------------------------------

test("a refused frame gets one ERROR naming its receipt, then a close; every other client is served on", async (t) => {
  const b = await broker(t);
  const bystander = await client(t, b);
  await subscribe(bystander, { id: "1", destination: "/topic/bystander" });
  const cases: [Buffer, RegExp][] = [
    [frame("FLY", { receipt: "r-fly" }), /^unknown command FLY$/],
    [frame("SEND", { receipt: "r-nodest" }, "x"), /^SEND needs a destination header$/],
    [frame("SEND", { destination: "/exchange/x", receipt: "r-exch" }), /is not \/topic\/NAME or \/queue\/NAME/],
    [frame("SUBSCRIBE", { destination: "/topic/x", receipt: "r-noid" }), /^SUBSCRIBE needs an id header$/],
    [frame("SUBSCRIBE", { id: "1", destination: "/topic/x", ack: "sometimes", receipt: "r-ack" }), /ack mode "sometimes" is not auto, client or client-individual/],
    [frame("SUBSCRIBE", { id: "1", destination: "/queue/x", "x-max-length": "lots", receipt: "r-len" }), /x-max-length "lots" is not a whole number/],
    [frame("ACK", { receipt: "r-ackid" }), /^ACK needs an id header$/],
    [frame("BEGIN", { receipt: "r-begin" }), /^BEGIN needs a transaction header$/],
  ];
  for (const [bytes, expected] of cases) {
    const c = await client(t, b);
    c.write(bytes);
    const error = await errorAndClose(c);
    t.regex(error.headers.message ?? "", expected);
    t.is(error.headers["receipt-id"], /receipt:(\S+)/.exec(bytes.toString())?.[1] ?? "(none)");
    t.is(c.frames.filter((f) => f.command === "ERROR").length, 1);
  }
  await send(bystander, "/topic/bystander", "still here");
  t.is((await nextMessage(bystander)).body.toString(), "still here");
  await waitFor(() => b.stats().connections === 1, 5_000, "the refused connections to go");
});

test("ERROR frames follow the grammar: message header, text/plain body with its content-length", async (t) => {
  const b = await broker(t);
  const c = await client(t, b);
  c.write("SEND\nno colon here\n\n\0");
  const error = await errorAndClose(c);
  t.regex(error.raw.toString("utf8"), /^ERROR\nmessage:malformed header line "no colon here"\\c expected name\\cvalue\ncontent-type:text\/plain\ncontent-length:\d+\n\n[^\0]+\n\0$/);
  t.is(Number(error.headers["content-length"]), error.body.length);
  t.regex(error.body.toString(), /frame grammar/);
});

test("after a malformed frame nothing more from that connection is processed", async (t) => {
  const b = await broker(t);
  const watcher = await client(t, b);
  await subscribe(watcher, { id: "1", destination: "/topic/after-error" });
  const c = await client(t, b);
  c.write(Buffer.concat([Buffer.from("SEND\ndestination:/topic/after-error\nbad\\escape:x\n\n\0"), frame("SEND", { destination: "/topic/after-error" }, "smuggled")]));
  const error = await errorAndClose(c);
  t.regex(error.headers.message ?? "", /undefined escape sequence "\\e"/);
  await send(watcher, "/topic/after-error", "marker");
  t.is((await nextMessage(watcher)).body.toString(), "marker", "neither the bad frame nor the one after it was delivered");
});

// ---- Frame grammar end to end ---------------------------------------------------------

test("header escaping round trip: ':' '\\n' '\\\\' '\\r' in names and values reach 1.2, 1.1 and 1.0 subscribers intact or inert", async (t) => {
  const b = await broker(t);
  const v12 = await client(t, b, { "accept-version": "1.2" });
  const v11 = await client(t, b, { "accept-version": "1.1" });
  const v10 = await client(t, b, { "accept-version": "1.0" });
  for (const c of [v12, v11, v10]) await subscribe(c, { id: "e", destination: "/topic/escapes" });
  const publisher = await client(t, b);
  publisher.write("SEND\ndestination:/topic/escapes\nx\\cname:a\\cb\\nc\\\\d\\re\nreceipt:p\n\nbody\0");
  await publisher.take((f) => f.command === "RECEIPT", "the receipt");
  const value = "a:b\nc\\d\re";
  const m12 = await nextMessage(v12);
  t.true(m12.raw.includes("\nx\\cname:a\\cb\\nc\\\\d\\re\n"), "1.2 escapes all four");
  t.is(m12.headers["x:name"], value);
  const m11 = await nextMessage(v11);
  t.true(m11.raw.includes("\nx\\cname:a\\cb\\nc\\\\d\re\n"), "1.1 has no \\r escape: the CR goes raw");
  t.is(m11.headers["x:name"], value);
  const m10 = await nextMessage(v10);
  t.is(m10.body.toString(), "body", "a 1.0 subscriber's frame is intact");
  t.false(m10.lines.some(([name]) => name === "c\\d"), "no header forged from the line break");
  t.is(m10.lines.length, m12.lines.length, "as many header lines as the 1.2 frame");
  for (const m of [m12, m11, m10]) t.false("receipt" in m.headers, "the publisher's receipt is not forwarded");
});

test("undefined escapes are fatal: \\t in 1.2, \\r in 1.1", async (t) => {
  const b = await broker(t);
  const v12 = await client(t, b, { "accept-version": "1.2" });
  v12.write("SEND\ndestination:/topic/x\nh:a\\tb\n\n\0");
  t.regex((await errorAndClose(v12)).headers.message ?? "", /undefined escape sequence "\\t"/);
  const v11 = await client(t, b, { "accept-version": "1.1" });
  v11.write("SEND\ndestination:/topic/x\nh:a\\rb\n\n\0");
  t.regex((await errorAndClose(v11)).headers.message ?? "", /undefined escape sequence "\\r"/);
  // 1.0 has no escapes: a backslash is just a backslash.
  const v10 = await client(t, b, { "accept-version": "1.0" });
  v10.version = "1.0";
  await request(v10, "SUBSCRIBE", { destination: "/topic/raw" });
  v10.write("SEND\ndestination:/topic/raw\nh:a\\tb\n\n\0");
  t.is((await nextMessage(v10)).headers.h, "a\\tb");
});

test("CONNECT headers are not unescaped: a passcode with a backslash is taken literally", async (t) => {
  const b = await broker(t, { users: [`alice:${await hashPassword("back\\slash", { N: 1024, r: 8, p: 1 })}`], anonymous: "none" });
  const { client: c, connected } = await connectRaw(b.port, { "accept-version": "1.2", login: "alice", passcode: "back\\slash" });
  c.destroy();
  t.is(connected.headers["user-name"], "alice");
});

test("a body with NUL octets travels whole with content-length; without it the body ends at the first NUL", async (t) => {
  const b = await broker(t);
  const sub = await client(t, b);
  const v10 = await client(t, b, { "accept-version": "1.0" });
  v10.version = "1.0";
  await subscribe(sub, { id: "1", destination: "/queue/binary" });
  await request(v10, "SUBSCRIBE", { destination: "/topic/binary" });
  const body = Buffer.from([0x61, 0, 0x62, 0, 0, 0x63, 0xff]);
  const publisher = await client(t, b);
  await send(publisher, "/queue/binary", body, { "content-length": body.length, "content-type": "application/octet-stream" });
  await send(publisher, "/topic/binary", body, { "content-length": body.length });
  const message = await nextMessage(sub);
  t.true(message.body.equals(body));
  t.is(message.headers["content-length"], String(body.length));
  t.is(message.headers["content-type"], "application/octet-stream");
  t.true(message.raw.subarray(-body.length - 1).equals(Buffer.concat([body, Buffer.from([0])])), "body then one NUL");
  t.true((await nextMessage(v10)).body.equals(body), "1.0 subscribers get content-length too");
  publisher.write("SEND\ndestination:/queue/binary\n\nab\0");
  const cut = await nextMessage(sub);
  t.is(cut.body.toString(), "ab");
  t.is(cut.headers["content-length"], "2", "the broker always sends content-length");
});

test("CRLF line endings throughout, and EOLs between frames, are accepted; no CR leaks into values", async (t) => {
  const b = await broker(t);
  const c = await open(t, b);
  c.write("\r\n\nCONNECT\r\naccept-version:1.2\r\nhost:/\r\n\r\n\0\r\n");
  t.is((await c.next()).command, "CONNECTED");
  c.write("SUBSCRIBE\r\nid:crlf\r\ndestination:/topic/crlf\r\nreceipt:s\r\n\r\n\0\n\n\r\n");
  t.is((await c.next()).headers["receipt-id"], "s");
  c.write("SEND\r\ndestination:/topic/crlf\r\nx-trailing:value\r\n\r\nbody\0\r\n");
  const message = await nextMessage(c);
  t.is(message.headers["x-trailing"], "value");
  t.is(message.headers.destination, "/topic/crlf");
  t.is(message.body.toString(), "body");
});

test("a frame written one byte at a time is the same frame", async (t) => {
  const b = await broker(t);
  const c = await client(t, b);
  await subscribe(c, { id: "1", destination: "/topic/drip" });
  const bytes = frame("SEND", { destination: "/topic/drip", "content-length": 3, "x-h": "v" }, "a\0b");
  for (const byte of bytes) {
    c.write(Buffer.from([byte]));
    await new Promise((resolve) => setImmediate(resolve));
  }
  const message = await nextMessage(c);
  t.true(message.body.equals(Buffer.from("a\0b")));
  t.is(message.headers["x-h"], "v");
});

test("repeated headers: the first occurrence wins and the subscriber sees it once", async (t) => {
  const b = await broker(t);
  const one = await client(t, b);
  const two = await client(t, b);
  await subscribe(one, { id: "1", destination: "/topic/first" });
  await subscribe(two, { id: "2", destination: "/topic/second" });
  const publisher = await client(t, b);
  await request(publisher, "SEND", [
    ["destination", "/topic/first"],
    ["destination", "/topic/second"],
    ["x", "first"],
    ["x", "second"],
  ]);
  const message = await nextMessage(one);
  t.deepEqual(
    message.lines.filter(([name]) => name === "x"),
    [["x", "first"]],
  );
  t.deepEqual(
    message.lines.filter(([name]) => name === "destination"),
    [["destination", "/topic/first"]],
  );
  await send(publisher, "/topic/second", "marker");
  t.is((await nextMessage(two)).body.toString(), "marker", "the second destination got nothing before the marker");
});

test("text outside latin1 survives in subscription ids, destinations and headers", async (t) => {
  const b = await broker(t);
  const c = await client(t, b);
  await subscribe(c, { id: "订阅-ü", destination: "/topic/ünï.コード" });
  await send(c, "/topic/ünï.コード", "€", { note: "日本語" });
  const message = await nextMessage(c);
  t.is(message.headers.subscription, "订阅-ü");
  t.is(message.headers.destination, "/topic/ünï.コード");
  t.is(message.headers.note, "日本語");
  t.is(message.body.toString(), "€");
});
