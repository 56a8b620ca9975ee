import { randomBytes, randomUUID } from "node:crypto";
import test from "ava";
import { type Delivery, Inbox, type Message, connect, flush, send, startStompitBroker } from "../../helpers/stompit-client.ts";

// The embedded broker driven by a STOMP client nobody here wrote (stompit),
// so a misreading of the spec shared by our codec and our client cannot hide.
// Each test has its own broker on a free port.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (deliveries: Delivery[]) => deliveries.map((d) => d.body.toString());

for (const [offered, expected] of [
  ["1.0,1.1,1.2", "1.2"], // what stompit offers by default
  ["1.0,1.1", "1.1"],
  ["1.1", "1.1"],
  ["1.0", "1.0"],
  ["1.2", "1.2"],
] as const) {
  test(`CONNECT accept-version:${offered} is answered with version ${expected}`, async (t) => {
    const broker = await startStompitBroker(t);
    const { connected } = await connect(t, broker, { "accept-version": offered, "heart-beat": "0,1000" });
    t.is(connected.version, expected);
    t.is(connected.server, "deploykit/test");
    // STOMP 1.0 has no heart-beats, so a 1.0 CONNECTED must not carry the header.
    t.is(connected["heart-beat"], expected === "1.0" ? undefined : "1000,1000");
  });
}

test("a CONNECT offering only versions the broker does not speak is refused with ERROR", async (t) => {
  const broker = await startStompitBroker(t);
  const error = (await t.throwsAsync(connect(t, broker, { "accept-version": "2.0,3.1" }))) as Error & { longMessage?: string };
  t.is(error.message, "unsupported STOMP version");
  t.regex(error.longMessage ?? "", /accepts 2\.0,3\.1; this broker speaks 1\.0,1\.1,1\.2/);
});

test("agreed heart-beats keep an idle connection open both ways", async (t) => {
  const broker = await startStompitBroker(t);
  // stompit drops the connection when nothing arrives for 1.1 s; the broker drops it after 2 s without input.
  const [publisher, subscriber] = await Promise.all([connect(t, broker, { "heart-beat": "500,500" }), connect(t, broker, { "heart-beat": "500,500" })]);
  t.is(publisher.connected["heart-beat"], "1000,1000");
  const inbox = new Inbox(subscriber.client, { destination: "/topic/idle" });
  await flush(subscriber.client);
  await sleep(3_500);
  await send(publisher.client, { destination: "/topic/idle" }, "still here", true);
  t.deepEqual(text(await inbox.take(1)), ["still here"]);
  t.deepEqual([...publisher.errors, ...subscriber.errors], []);
});

for (const version of ["1.0", "1.1", "1.2"] as const) {
  test(`STOMP ${version}: every /topic subscriber gets every message, in order, with its headers`, async (t) => {
    const broker = await startStompitBroker(t);
    const [publisher, first, second] = await Promise.all([0, 1, 2].map(() => connect(t, broker, { "accept-version": version })));
    await send(publisher.client, { destination: "/topic/news" }, "before anyone listened", true);
    const inboxes = [new Inbox(first.client, { destination: "/topic/news", id: "a" }), new Inbox(second.client, { destination: "/topic/news", id: "b" })];
    await Promise.all([flush(first.client), flush(second.client)]);
    for (let i = 0; i < 3; i++) await send(publisher.client, { destination: "/topic/news", "x-seq": i, "content-type": "text/plain" }, `news ${i}`);
    for (const [index, inbox] of inboxes.entries()) {
      const got = await inbox.take(3);
      t.deepEqual(text(got), ["news 0", "news 1", "news 2"], "a topic keeps nothing for later subscribers, and keeps order");
      t.deepEqual(
        got.map((d) => [d.headers.destination, d.headers.subscription, d.headers["x-seq"], d.headers["content-type"]]),
        [0, 1, 2].map((i) => ["/topic/news", index === 0 ? "a" : "b", String(i), "text/plain"]),
      );
      t.is(new Set(got.map((d) => d.headers["message-id"])).size, 3, "message-ids are distinct");
    }
    await sleep(100);
    t.is(inboxes[0]?.received.length, 3, "nothing more arrived");
  });
}

test("a /queue keeps messages until a consumer comes and hands each to one of its competing consumers", async (t) => {
  const broker = await startStompitBroker(t);
  const [publisher, first, second] = await Promise.all([0, 1, 2].map(() => connect(t, broker)));
  for (let i = 0; i < 2; i++) await send(publisher.client, { destination: "/queue/jobs" }, `early ${i}`, true);
  const a = new Inbox(first.client, { destination: "/queue/jobs" });
  t.deepEqual(text(await a.take(2)), ["early 0", "early 1"], "kept for the first consumer, in order");
  const b = new Inbox(second.client, { destination: "/queue/jobs" });
  await flush(second.client);
  for (let i = 0; i < 10; i++) await send(publisher.client, { destination: "/queue/jobs" }, `job ${i}`);
  await flush(publisher.client);
  const deadline = Date.now() + 5_000;
  while (a.received.length + b.received.length < 12 && Date.now() < deadline) await sleep(20);
  await sleep(100);
  const jobsOf = (inbox: Inbox) => text(inbox.received).filter((body) => body.startsWith("job"));
  t.deepEqual([...jobsOf(a), ...jobsOf(b)].sort(), Array.from({ length: 10 }, (_, i) => `job ${i}`).sort(), "each message exactly once");
  t.is(jobsOf(a).length, 5, "round-robin between the two consumers");
  t.is(jobsOf(b).length, 5, "round-robin between the two consumers");
  t.deepEqual(broker.stats().queues, [{ name: "jobs", depth: 0, consumers: 2 }]);
});

for (const version of ["1.1", "1.2"] as const) {
  test(`STOMP ${version}: client-individual ACK settles only the message acked; the rest is redelivered to the next consumer`, async (t) => {
    const broker = await startStompitBroker(t);
    const [publisher, consumer, successor] = await Promise.all([0, 1, 2].map(() => connect(t, broker, { "accept-version": version })));
    const inbox = new Inbox(consumer.client, { destination: "/queue/work", ack: "client-individual" });
    await flush(consumer.client);
    for (const body of ["one", "two", "three"]) await send(publisher.client, { destination: "/queue/work" }, body);
    const [, two] = await inbox.take(3);
    if (version === "1.2") t.truthy(two?.headers.ack, "1.2 deliveries carry the ack id");
    two?.ack();
    await flush(consumer.client);
    t.deepEqual(broker.stats().queues, [{ name: "work", depth: 0, consumers: 1 }], "unacked messages stay with their consumer");
    (consumer.client as unknown as { destroy(): void }).destroy();
    const next = new Inbox(successor.client, { destination: "/queue/work", ack: "client-individual" });
    const redelivered = await next.take(2);
    t.deepEqual(text(redelivered), ["one", "three"], "only the acked message is gone");
    t.deepEqual(
      redelivered.map((d) => d.headers.redelivered),
      ["true", "true"],
    );
    for (const d of redelivered) d.ack();
    await flush(successor.client);
    await sleep(100);
    t.is(next.received.length, 2);
    t.deepEqual(successor.errors, []);
  });
}

test("ack:client is cumulative: acking the second message settles the first too", async (t) => {
  const broker = await startStompitBroker(t);
  const [publisher, consumer, successor] = await Promise.all([0, 1, 2].map(() => connect(t, broker)));
  const inbox = new Inbox(consumer.client, { destination: "/queue/cumulative", ack: "client" });
  await flush(consumer.client);
  for (const body of ["one", "two", "three"]) await send(publisher.client, { destination: "/queue/cumulative" }, body);
  const [, two] = await inbox.take(3);
  two?.ack();
  await flush(consumer.client);
  (consumer.client as unknown as { destroy(): void }).destroy();
  const next = new Inbox(successor.client, { destination: "/queue/cumulative" });
  t.deepEqual(text(await next.take(1)), ["three"]);
  await sleep(100);
  t.is(next.received.length, 1);
});

test("prefetch-count bounds the unacknowledged messages a client-individual consumer holds", async (t) => {
  const broker = await startStompitBroker(t);
  const [publisher, consumer] = await Promise.all([connect(t, broker), connect(t, broker)]);
  const inbox = new Inbox(consumer.client, { destination: "/queue/slow", ack: "client-individual", "prefetch-count": "2" });
  await flush(consumer.client);
  for (let i = 0; i < 5; i++) await send(publisher.client, { destination: "/queue/slow" }, `m${i}`);
  await inbox.take(2);
  await sleep(150);
  t.is(inbox.received.length, 2, "no third message before an ACK");
  t.is(broker.stats().queues[0]?.depth, 3);
  inbox.received[1]?.ack();
  t.deepEqual(text(await inbox.take(3)), ["m0", "m1", "m2"]);
  await sleep(150);
  t.is(inbox.received.length, 3, "one ACK makes room for exactly one more");
});

test("NACK puts the message back: it is redelivered, marked redelivered, and gone once acked", async (t) => {
  const broker = await startStompitBroker(t);
  const [publisher, consumer] = await Promise.all([connect(t, broker), connect(t, broker)]);
  const inbox = new Inbox(consumer.client, { destination: "/queue/retry", ack: "client-individual" });
  await flush(consumer.client);
  await send(publisher.client, { destination: "/queue/retry", "x-attempt": "first" }, "flaky work");
  const [first] = await inbox.take(1);
  t.is(first?.headers.redelivered, undefined);
  first?.nack();
  const [, again] = await inbox.take(2);
  t.is(again?.body.toString(), "flaky work");
  t.is(again?.headers.redelivered, "true");
  t.is(again?.headers["x-attempt"], "first", "the publisher's headers survive the redelivery");
  t.not(again?.headers["message-id"], first?.headers["message-id"]);
  again?.ack();
  await flush(consumer.client);
  await sleep(100);
  t.is(inbox.received.length, 2, "an acked message is not delivered again");
  t.is(broker.stats().counters.redelivered, 1);
  t.deepEqual(consumer.errors, []);
});

test("a SEND with a receipt is routed before the RECEIPT comes back", async (t) => {
  const broker = await startStompitBroker(t);
  const [publisher, consumer] = await Promise.all([connect(t, broker), connect(t, broker)]);
  await send(publisher.client, { destination: "/queue/confirmed" }, "confirmed", true);
  t.deepEqual(broker.stats().queues, [{ name: "confirmed", depth: 1, consumers: 0 }], "enqueued by the time the receipt arrived");
  const inbox = new Inbox(consumer.client, { destination: "/queue/confirmed" });
  t.deepEqual(text(await inbox.take(1)), ["confirmed"]);
});

test("a SEND with a receipt that the broker refuses gets an ERROR naming that receipt", async (t) => {
  const broker = await startStompitBroker(t);
  const publisher = await connect(t, broker);
  const error = (await t.throwsAsync(send(publisher.client, { destination: "/exchange/nowhere" }, "lost", true))) as Error & { longMessage?: string };
  t.is(error.message, "destination \"/exchange/nowhere\" is not /topic/NAME or /queue/NAME");
  t.regex(error.message, /is not \/topic\/NAME or \/queue\/NAME/);
});

test("a transaction's SENDs are delivered at COMMIT, in order, and an aborted one's never", async (t) => {
  const broker = await startStompitBroker(t);
  const [publisher, consumer] = await Promise.all([connect(t, broker), connect(t, broker)]);
  const inbox = new Inbox(consumer.client, { destination: "/topic/tx" });
  await flush(consumer.client);
  const committed = publisher.client.begin();
  const aborted = publisher.client.begin();
  committed.send({ destination: "/topic/tx" }).end("tx 1");
  aborted.send({ destination: "/topic/tx" }).end("aborted");
  committed.send({ destination: "/topic/tx" }).end("tx 2");
  await send(publisher.client, { destination: "/topic/tx" }, "outside", true);
  t.deepEqual(text(await inbox.take(1)), ["outside"], "held until COMMIT");
  await new Promise<void>((resolve, reject) => aborted.abort({ onReceipt: resolve, onError: reject }));
  await new Promise<void>((resolve, reject) => committed.commit({ onReceipt: resolve, onError: reject }));
  t.deepEqual(text(await inbox.take(3)), ["outside", "tx 1", "tx 2"]);
  await sleep(100);
  t.is(inbox.received.length, 3, "the aborted SEND was dropped");
  t.deepEqual(publisher.errors, []);
});

for (const outcome of ["commit", "abort"] as const) {
  test(`an ACK inside a transaction takes effect only at COMMIT (${outcome})`, async (t) => {
    const broker = await startStompitBroker(t);
    const [publisher, consumer, successor] = await Promise.all([0, 1, 2].map(() => connect(t, broker)));
    const inbox = new Inbox(consumer.client, { destination: "/queue/txack", ack: "client-individual" });
    await flush(consumer.client);
    await send(publisher.client, { destination: "/queue/txack" }, "work");
    const [delivery] = await inbox.take(1);
    const transaction = consumer.client.begin();
    consumer.client.ack(delivery?.message as Message, { transaction: (transaction as unknown as { id: number }).id });
    await new Promise<void>((resolve, reject) => transaction[outcome]({ onReceipt: resolve, onError: reject }));
    (consumer.client as unknown as { destroy(): void }).destroy();
    const next = new Inbox(successor.client, { destination: "/queue/txack" });
    await flush(successor.client);
    await sleep(150);
    t.deepEqual(text(next.received), outcome === "commit" ? [] : ["work"]);
  });
}

for (const [from, to] of [
  ["1.1", "1.2"],
  ["1.2", "1.1"],
  ["1.2", "1.2"],
] as const) {
  test(`a header with ':', '\\n' and '\\\\' in its name and value survives STOMP ${from} -> ${to}`, async (t) => {
    const broker = await startStompitBroker(t);
    const [publisher, consumer] = await Promise.all([connect(t, broker, { "accept-version": from }), connect(t, broker, { "accept-version": to })]);
    const inbox = new Inbox(consumer.client, { destination: "/topic/escapes" });
    await flush(consumer.client);
    const value = "a:b\nc\\d::\n\ne";
    const headers: Record<string, string> = { destination: "/topic/escapes", "x-value": value, "x:name\nwith\\all": "plain" };
    if (from === "1.2" && to === "1.2") headers["x-cr"] = "carriage\rreturn";
    await send(publisher.client, headers, "body");
    const [got] = await inbox.take(1);
    t.is(got?.headers["x-value"], value);
    t.is(got?.headers["x:name\nwith\\all"], "plain");
    if (headers["x-cr"]) t.is(got?.headers["x-cr"], "carriage\rreturn");
    t.deepEqual([...publisher.errors, ...consumer.errors], []);
  });
}

test("STOMP 1.0 has no escapes: a header value with colons arrives as sent", async (t) => {
  const broker = await startStompitBroker(t);
  const [publisher, consumer] = await Promise.all([0, 1].map(() => connect(t, broker, { "accept-version": "1.0" })));
  const inbox = new Inbox(consumer.client, { destination: "/topic/colons" });
  await flush(consumer.client);
  await send(publisher.client, { destination: "/topic/colons", "x-url": "http://host:8080/a:b", "x-backslash": "c:\\dir" }, "body");
  const [got] = await inbox.take(1);
  t.is(got?.headers["x-url"], "http://host:8080/a:b");
  t.is(got?.headers["x-backslash"], "c:\\dir");
});

test("a line break a 1.2 publisher puts in a header cannot inject headers into a 1.0 subscriber's frame", async (t) => {
  const broker = await startStompitBroker(t);
  const [publisher, consumer] = await Promise.all([connect(t, broker, { "accept-version": "1.2" }), connect(t, broker, { "accept-version": "1.0" })]);
  const inbox = new Inbox(consumer.client, { destination: "/topic/inject" });
  await flush(consumer.client);
  // 1.0 cannot carry a line break in a header; written raw, this one would cut the body short.
  await send(publisher.client, { destination: "/topic/inject", "x-evil": "a\ncontent-length:1\nx-injected:yes" }, "whole body");
  await send(publisher.client, { destination: "/topic/inject" }, "next");
  const got = await inbox.take(2);
  t.deepEqual(text(got), ["whole body", "next"]);
  t.is(got[0]?.headers["x-evil"], "a\\ncontent-length:1\\nx-injected:yes");
  t.is(got[0]?.headers["x-injected"], undefined);
  t.deepEqual(consumer.errors, []);
});

test("a binary body with NUL bytes arrives byte for byte, to topic and queue subscribers", async (t) => {
  const broker = await startStompitBroker(t);
  const [publisher, topicConsumer, queueConsumer] = await Promise.all([0, 1, 2].map(() => connect(t, broker)));
  const topic = new Inbox(topicConsumer.client, { destination: "/topic/blobs" });
  await flush(topicConsumer.client);
  // NUL first, last and in runs, and every other byte value: a NUL-terminated reading would cut it at byte 0.
  const body = Buffer.concat([Buffer.from([0, 0, 1, 0]), randomBytes(200_000), Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.alloc(3)]);
  // stompit sends content-length only when told to; without it a NUL would end the frame.
  await send(publisher.client, { destination: "/topic/blobs", "content-length": body.length, "content-type": "application/octet-stream" }, body);
  await send(publisher.client, { destination: "/queue/blobs", "content-length": body.length }, body, true);
  const queue = new Inbox(queueConsumer.client, { destination: "/queue/blobs" });
  for (const inbox of [topic, queue]) {
    const [got] = await inbox.take(1);
    t.is(got?.headers["content-length"], String(body.length));
    t.true(got?.body.equals(body), `body of ${got?.body.length} bytes differs from the ${body.length} sent`);
  }
  t.is(topic.received[0]?.headers["content-type"], "application/octet-stream");
  t.deepEqual(publisher.errors, []);
});

test("a graceful DISCONNECT is confirmed by its receipt, and the broker forgets the connection", async (t) => {
  const broker = await startStompitBroker(t);
  const { client } = await connect(t, broker);
  new Inbox(client, { destination: `/topic/${randomUUID()}` });
  await flush(client);
  t.is(broker.stats().connections, 1);
  t.is(broker.stats().subscriptions, 1);
  // stompit fails the disconnect with "connection ended without disconnect receipt" if the RECEIPT does not come first.
  await new Promise<void>((resolve, reject) => client.disconnect((err) => (err ? reject(err) : resolve())));
  const deadline = Date.now() + 2_000;
  while (broker.stats().connections > 0 && Date.now() < deadline) await sleep(10);
  t.is(broker.stats().connections, 0);
  t.is(broker.stats().topics, 0, "the subscription's binding went with it");
});
