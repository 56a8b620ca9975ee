import test from "ava";
import { hashPassword } from "../../../daemons/broker/authenticator.ts";
import type { RunningBroker } from "../../../daemons/broker/start-broker.ts";
import { rawBroker as broker, rawClient as client, rawSocket as open } from "../../helpers/raw-broker.ts";
import { connectRaw, errorAndClose, errorText, frame, nextMessage, request, send, subscribe } from "../../helpers/raw-stomp.ts";
import { waitFor } from "../../helpers/test-bus.ts";

// STOMP conformance over raw TCP, the broker's guards: every limit answers with
// an ERROR that says which limit and closes; logins; the /metrics endpoint.

// ---- Limits ---------------------------------------------------------------------------

test("limit: a frame over maxFrameBytes gets ERROR naming the limit, with or without content-length", async (t) => {
  const b = await broker(t, { limits: { maxFrameBytes: 1024 } });
  const declared = await client(t, b);
  declared.write(frame("SEND", { destination: "/topic/x", "content-length": 5000 }, "x".repeat(5000)));
  t.regex(errorText(await errorAndClose(declared)), /^frame of \d+ bytes exceeds the limit of 1024 \|.*broker\.maxFrameSize/);
  const streamed = await client(t, b);
  streamed.write(frame("SEND", { destination: "/topic/x" }, "x".repeat(5000)));
  t.regex((await errorAndClose(streamed)).headers.message ?? "", /^frame exceeds the limit of 1024 bytes$/);
  const fits = await client(t, b);
  await send(fits, "/topic/x", "x".repeat(900));
});

test("limit: more than maxHeaders headers", async (t) => {
  const b = await broker(t, { limits: { maxHeaders: 5 } });
  const c = await client(t, b);
  c.write(frame("SEND", { destination: "/topic/x", a: 1, b: 2, c: 3, d: 4, e: 5 }));
  t.is((await errorAndClose(c)).headers.message, "frame has 6 headers; the limit is 5");
});

test("limit: a header line longer than maxHeaderBytes", async (t) => {
  const b = await broker(t, { limits: { maxHeaderBytes: 100 } });
  const c = await client(t, b);
  c.write(frame("SEND", { destination: "/topic/x", long: "v".repeat(200) }));
  t.is((await errorAndClose(c)).headers.message, "header line of 205 bytes exceeds the limit of 100");
  const endless = await client(t, b);
  endless.write(`SEND\nlong:${"v".repeat(100_000)}`);
  t.regex((await errorAndClose(endless)).headers.message ?? "", /^frame headers exceed \d+ bytes \(limit: 64 headers of 100 bytes\)$/);
});

test("limit: maxConnections: one more gets ERROR before it sends anything; a freed slot is usable again", async (t) => {
  const b = await broker(t, { maxConnections: 2 });
  const first = await client(t, b);
  await client(t, b);
  const third = await open(t, b);
  const error = await errorAndClose(third);
  t.is(error.headers.message, "too many connections");
  t.regex(error.body.toString(), /allows 2 connections \(broker\.maxConnections\)/);
  t.is(b.stats().counters.connectionsRefused, 1);
  first.destroy();
  await waitFor(() => b.stats().connections === 1, 5_000, "the first connection to go");
  await client(t, b);
});

test("limit: maxSubscriptions per connection", async (t) => {
  const b = await broker(t, { limits: { maxSubscriptions: 2 } });
  const c = await client(t, b);
  await subscribe(c, { id: "1", destination: "/topic/a" });
  await subscribe(c, { id: "2", destination: "/queue/b" });
  c.write(frame("SUBSCRIBE", { id: "3", destination: "/topic/c", receipt: "r3" }));
  const error = await errorAndClose(c);
  t.is(error.headers.message, "this connection has 2 subscriptions; the limit is 2");
  t.is(error.headers["receipt-id"], "r3");
  // Unsubscribing frees a slot.
  const d = await client(t, b);
  await subscribe(d, { id: "1", destination: "/topic/a" });
  await subscribe(d, { id: "2", destination: "/topic/b" });
  await request(d, "UNSUBSCRIBE", { id: "1" });
  await subscribe(d, { id: "3", destination: "/topic/c" });
});

test("limit: maxQueues across the broker; existing queues stay usable", async (t) => {
  const b = await broker(t, { limits: { maxQueues: 2 } });
  const c = await client(t, b);
  await send(c, "/queue/one", "1");
  await subscribe(c, { id: "g", destination: "/topic/t", "x-queue-name": "t.group.g" });
  const d = await client(t, b);
  d.write(frame("SEND", { destination: "/queue/three", receipt: "r" }, "3"));
  const error = await errorAndClose(d);
  t.is(error.headers.message, 'the broker holds 2 queues, its limit (broker.maxQueues); queue "three" was not created');
  t.is(error.headers["receipt-id"], "r");
  const e = await client(t, b);
  await send(e, "/queue/one", "still there");
  t.deepEqual(
    b.stats().queues.map((q) => [q.name, q.depth]),
    [
      ["one", 2],
      ["t.group.g", 0],
    ],
  );
});

test("limit: maxTransactionFrames", async (t) => {
  const b = await broker(t, { limits: { maxTransactionFrames: 3 } });
  const c = await client(t, b);
  await request(c, "BEGIN", { transaction: "big" });
  for (let i = 0; i < 3; i++) await send(c, "/topic/x", `m${i}`, { transaction: "big" });
  c.write(frame("SEND", { destination: "/topic/x", transaction: "big" }, "one too many"));
  t.is((await errorAndClose(c)).headers.message, 'transaction "big" holds 3 frames; the limit is 3');
});

test("limit: a subscriber that does not read is disconnected with ERROR once slowConsumerMessages wait; others are unaffected", async (t) => {
  const b = await broker(t, { limits: { slowConsumerMessages: 20 } });
  const slow = await client(t, b);
  const healthy = await client(t, b);
  await subscribe(slow, { id: "lazy", destination: "/topic/firehose" });
  await subscribe(healthy, { id: "keen", destination: "/topic/firehose" });
  slow.socket.pause();
  const publisher = await client(t, b);
  const body = "x".repeat(64 * 1024);
  let sent = 0;
  // Kernel buffers on both ends take megabytes before the broker sees a backlog.
  while (b.stats().counters.slowConsumers === 0) {
    if (sent > 4000) t.fail("the broker never gave up on the slow consumer");
    publisher.write(frame("SEND", { destination: "/topic/firehose", "content-length": body.length }, body));
    sent++;
    if (sent % 8 === 0) await send(publisher, "/topic/pace");
  }
  // Read now: the broker drops a connection that leaves its ERROR unread for long.
  slow.socket.resume();
  const error = await slow.take((f) => f.command === "ERROR", "the slow consumer's ERROR", 15_000);
  await slow.waitClosed(15_000);
  t.is(error.headers.message, "slow consumer");
  t.regex(error.body.toString(), /messages were waiting for subscription lazy \(limit 20\)/);
  t.is(slow.frames.at(-1)?.command, "ERROR", "ERROR is the last frame");
  t.false(healthy.closed);
  await send(publisher, "/topic/firehose", "the end");
  await healthy.take((f) => f.command === "MESSAGE" && f.body.toString() === "the end", "the last message", 15_000);
  t.is(healthy.frames.filter((f) => f.command === "MESSAGE").length, sent + 1, "the healthy subscriber got everything");
  t.true(b.stats().counters.dropped >= 20);
});

// ---- Authentication -------------------------------------------------------------------

const cheap = { N: 1024, r: 8, p: 1 };

test("auth: a configured login connects as its user; a wrong passcode, an unknown login and no login are refused", async (t) => {
  const b = await broker(t, { users: [`alice:${await hashPassword("s3cret", cheap)}`], anonymous: "none" });
  const { client: alice, connected } = await connectRaw(b.port, { "accept-version": "1.2", login: "alice", passcode: "s3cret" });
  t.teardown(() => alice.destroy());
  t.is(connected.headers["user-name"], "alice");
  for (const [headers, reason] of [
    [{ login: "alice", passcode: "guess" }, "login failed: unknown login or wrong passcode"],
    [{ login: "mallory", passcode: "s3cret" }, "login failed: unknown login or wrong passcode"],
    [{}, "this broker requires a login and passcode"],
  ] as const) {
    const c = await open(t, b);
    c.write(frame("CONNECT", { "accept-version": "1.2", ...headers }));
    const error = await errorAndClose(c);
    t.is(error.headers.message, "access refused");
    t.is(error.body.toString(), `${reason}\n`);
  }
  t.is(b.stats().counters.authFailures, 3);
});

test("auth: frames pipelined behind a refused CONNECT are never acted on; behind an accepted one they run in order", async (t) => {
  const b = await broker(t, { users: [`alice:${await hashPassword("s3cret", cheap)}`], anonymous: "none" });
  const { client: alice } = await connectRaw(b.port, { "accept-version": "1.2", login: "alice", passcode: "s3cret" });
  t.teardown(() => alice.destroy());
  await subscribe(alice, { id: "1", destination: "/topic/secret" });
  const intruder = await open(t, b);
  intruder.write(
    Buffer.concat([
      frame("CONNECT", { "accept-version": "1.2", login: "alice", passcode: "wrong" }),
      frame("SEND", { destination: "/topic/secret" }, "forged"),
      frame("SUBSCRIBE", { id: "2", destination: "/topic/secret", receipt: "spy" }),
    ]),
  );
  t.is((await errorAndClose(intruder)).headers.message, "access refused");
  t.deepEqual(
    intruder.frames.map((f) => f.command),
    ["ERROR"],
  );
  const eager = await open(t, b);
  eager.write(
    Buffer.concat([
      frame("CONNECT", { "accept-version": "1.2", login: "alice", passcode: "s3cret" }),
      frame("SUBSCRIBE", { id: "1", destination: "/topic/secret", receipt: "sub" }),
      frame("SEND", { destination: "/topic/secret", receipt: "sent" }, "pipelined"),
    ]),
  );
  t.is((await eager.next()).command, "CONNECTED");
  t.is((await eager.next()).headers["receipt-id"], "sub");
  t.is((await eager.next()).body.toString(), "pipelined");
  t.is((await eager.next()).headers["receipt-id"], "sent");
  t.is((await nextMessage(alice)).body.toString(), "pipelined", "the forged SEND never arrived");
});

test("auth: with users configured, anonymous clients on loopback are accepted under the default policy", async (t) => {
  const b = await broker(t, { users: [`alice:${await hashPassword("s3cret", cheap)}`] });
  const { client: c, connected } = await connectRaw(b.port, { "accept-version": "1.2" });
  c.destroy();
  t.is(connected.command, "CONNECTED");
  t.false("user-name" in connected.headers);
});

// ---- /metrics -------------------------------------------------------------------------

async function scrape(b: RunningBroker): Promise<Map<string, number>> {
  const response = await fetch(b.metricsUrl as string);
  if (response.status !== 200) throw new Error(`GET /metrics: ${response.status}`);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

test("/metrics counts connections, destinations, messages in and out, dropped and redelivered", async (t) => {
  const b = await broker(t);
  const before = await scrape(b);
  t.is(before.get("deploykit_broker_connections"), 0);
  t.is(before.get("deploykit_broker_messages_in_total"), 0);
  const consumer = await client(t, b);
  const publisher = await client(t, b);
  await subscribe(consumer, { id: "1", destination: "/topic/m" });
  await subscribe(consumer, { id: "2", destination: "/queue/work", ack: "client-individual" });
  // A group with room for one message and no member left: the second message pushes the first out.
  await subscribe(consumer, { id: "3", destination: "/topic/g", "x-queue-name": "group-m", "x-max-length": 1 });
  await request(consumer, "UNSUBSCRIBE", { id: "3" });
  for (const body of ["a", "b", "c"]) await send(publisher, "/topic/m", body);
  await send(publisher, "/queue/work", "job");
  await send(publisher, "/topic/g", "g1");
  await send(publisher, "/topic/g", "g2");
  await send(publisher, "/topic/nobody", "lost");
  const job = await consumer.take((f) => f.headers.destination === "/queue/work", "the job");
  consumer.write(frame("NACK", { id: job.headers.ack as string }));
  await consumer.take((f) => f.headers.destination === "/queue/work" && f.headers.redelivered === "true", "the job again");
  const after = await scrape(b);
  t.is(after.get("deploykit_broker_connections"), 2);
  t.is(after.get("deploykit_broker_connections_total"), 2);
  t.is(after.get("deploykit_broker_subscriptions"), 2);
  t.is(after.get("deploykit_broker_messages_in_total"), 7);
  t.is(after.get("deploykit_broker_messages_out_total"), 5, "three topic messages, the job twice");
  t.is(after.get("deploykit_broker_messages_redelivered_total"), 1);
  t.is(after.get("deploykit_broker_messages_dropped_total"), 1);
  t.is(after.get("deploykit_broker_messages_unroutable_total"), 1);
  t.is(after.get('deploykit_broker_queue_depth{queue="group-m"}'), 1);
  t.is(after.get('deploykit_broker_queue_consumers{queue="work"}'), 1);
  t.is(after.get("deploykit_broker_queues"), 2);
  t.is(after.get("deploykit_broker_topics"), 2, "/topic/m and the group's /topic/g");
  const bad = await client(t, b);
  bad.write(frame("NONSENSE"));
  await errorAndClose(bad);
  await waitFor(() => b.stats().connections === 2, 5_000, "the refused client to go");
  const last = await scrape(b);
  t.is(last.get("deploykit_broker_protocol_errors_total"), 1);
  t.is(last.get("deploykit_broker_connections"), 2);
  const notFound = await fetch((b.metricsUrl as string).replace("/metrics", "/other"));
  t.is(notFound.status, 404);
});
