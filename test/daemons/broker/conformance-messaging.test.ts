import test, { type ExecutionContext } from "ava";
import type { RunningBroker } from "../../../daemons/broker/start-broker.ts";
import { rawBroker as broker, rawClient } from "../../helpers/raw-broker.ts";
import { type RawClient, type RawFrame, errorAndClose, frame, nextMessage, request, send, subscribe } from "../../helpers/raw-stomp.ts";
import { waitFor } from "../../helpers/test-bus.ts";

// STOMP conformance over raw TCP, the messaging half: topics, queues, ack
// modes, redelivery, transactions and group subscriptions.

const client = (t: ExecutionContext, b: RunningBroker, version = "1.2") => rawClient(t, b, { "accept-version": version });
const text = (frames: RawFrame[]) => frames.map((f) => f.body.toString());

/** The next `count` MESSAGE frames' bodies. */
async function bodies(c: RawClient, count: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push((await nextMessage(c)).body.toString());
  return out;
}

/** The tag to ACK or NACK a MESSAGE with, for the client's version. */
function tag(c: RawClient, m: RawFrame): Record<string, string> {
  return c.version === "1.2" ? { id: m.headers.ack as string } : { "message-id": m.headers["message-id"] as string, subscription: m.headers.subscription as string };
}

async function queueDepth(b: RunningBroker, name: string): Promise<number | undefined> {
  return b.stats().queues.find((q) => q.name === name)?.depth;
}

// ---- Topics ---------------------------------------------------------------------------

test("/topic fan-out: every subscriber of every version gets every message, in order, with the MESSAGE headers", async (t) => {
  const b = await broker(t);
  const subscribers = [await client(t, b, "1.0"), await client(t, b, "1.1"), await client(t, b, "1.2")];
  for (const [i, c] of subscribers.entries()) await request(c, "SUBSCRIBE", { id: `sub-${i}`, destination: "/topic/fan" });
  const publisher = await client(t, b);
  for (let i = 0; i < 5; i++) await send(publisher, "/topic/fan", `m${i}`, { "content-type": "text/plain", "x-app": "deploykit", receipt: "ignored" });
  for (const [i, c] of subscribers.entries()) {
    const got: RawFrame[] = [];
    for (let n = 0; n < 5; n++) got.push(await nextMessage(c));
    t.deepEqual(text(got), ["m0", "m1", "m2", "m3", "m4"], `subscriber ${c.version}`);
    const first = got[0] as RawFrame;
    t.is(first.headers.subscription, `sub-${i}`);
    t.is(first.headers.destination, "/topic/fan");
    t.is(first.headers["x-app"], "deploykit");
    t.is(first.headers["content-type"], "text/plain");
    t.false("ack" in first.headers, "no ack header in auto mode");
    t.is(new Set(got.map((m) => m.headers["message-id"])).size, 5, "message-ids are unique");
  }
});

test("UNSUBSCRIBE stops delivery at once; an unknown id is not an error", async (t) => {
  const b = await broker(t);
  const c = await client(t, b);
  await subscribe(c, { id: "a", destination: "/topic/un" });
  await subscribe(c, { id: "b", destination: "/topic/marker" });
  await request(c, "UNSUBSCRIBE", { id: "a" });
  await request(c, "UNSUBSCRIBE", { id: "never-was" });
  await send(c, "/topic/un", "gone");
  await send(c, "/topic/marker", "marker");
  t.deepEqual(await bodies(c, 1), ["marker"]);
  t.is(b.stats().topics, 1);
});

test("STOMP 1.0: SUBSCRIBE without id uses the destination; UNSUBSCRIBE by destination", async (t) => {
  const b = await broker(t);
  const c = await client(t, b, "1.0");
  await request(c, "SUBSCRIBE", { destination: "/topic/old" });
  await send(c, "/topic/old", "one");
  t.is((await nextMessage(c)).headers.subscription, "/topic/old");
  await request(c, "UNSUBSCRIBE", { destination: "/topic/old" });
  t.is(b.stats().subscriptions, 0);
});

test("topic wildcards as in RabbitMQ: * is one word, # is zero or more", async (t) => {
  const b = await broker(t);
  const star = await client(t, b);
  const hash = await client(t, b);
  await subscribe(star, { id: "s", destination: "/topic/logs.*" });
  await subscribe(hash, { id: "h", destination: "/topic/logs.#" });
  const publisher = await client(t, b);
  for (const topic of ["logs", "logs.web", "logs.web.error", "other.web"]) await send(publisher, `/topic/${topic}`, topic);
  await send(publisher, "/topic/logs.end", "end");
  t.deepEqual(await bodies(star, 2), ["logs.web", "end"]);
  t.deepEqual(await bodies(hash, 4), ["logs", "logs.web", "logs.web.error", "end"]);
});

// ---- Queues ---------------------------------------------------------------------------

test("/queue: messages wait for a consumer, then competing consumers share them, each message exactly once", async (t) => {
  const b = await broker(t);
  const publisher = await client(t, b);
  await send(publisher, "/queue/work", "early");
  t.is(await queueDepth(b, "work"), 1);
  const one = await client(t, b);
  const two = await client(t, b);
  await subscribe(one, { id: "1", destination: "/queue/work" });
  t.deepEqual(await bodies(one, 1), ["early"]);
  await subscribe(two, { id: "2", destination: "/queue/work" });
  for (let i = 0; i < 10; i++) await send(publisher, "/queue/work", `job${i}`);
  await waitFor(() => one.inbox.length + two.inbox.length === 10, 5_000, "ten deliveries");
  const a = text(one.inbox);
  const c = text(two.inbox);
  t.deepEqual([...a, ...c].sort(), Array.from({ length: 10 }, (_, i) => `job${i}`).sort());
  t.is(a.length, 5, "round-robin");
  t.is(c.length, 5, "round-robin");
  t.is(await queueDepth(b, "work"), 0);
});

test("ack:auto: a message is settled on delivery; a consumer that leaves takes nothing back to the queue", async (t) => {
  const b = await broker(t);
  const first = await client(t, b);
  await subscribe(first, { id: "1", destination: "/queue/auto" });
  await send(first, "/queue/auto", "taken");
  t.deepEqual(await bodies(first, 1), ["taken"]);
  first.destroy();
  await waitFor(() => b.stats().connections === 0, 5_000, "the first consumer to go");
  const second = await client(t, b);
  await subscribe(second, { id: "1", destination: "/queue/auto" });
  await send(second, "/queue/auto", "next");
  const message = await nextMessage(second);
  t.is(message.body.toString(), "next");
  t.false("redelivered" in message.headers);
});

test("ack:client is cumulative: ACK of the second message settles the first; the third is redelivered after a disconnect", async (t) => {
  const b = await broker(t);
  const publisher = await client(t, b);
  for (const version of ["1.2", "1.1"]) {
    const queue = `/queue/client-${version}`;
    const consumer = await client(t, b, version);
    await subscribe(consumer, { id: "c", destination: queue, ack: "client" });
    for (const body of ["one", "two", "three"]) await send(publisher, queue, body);
    const [, second] = [await nextMessage(consumer), await nextMessage(consumer), await nextMessage(consumer)];
    if (version === "1.2") t.is(second?.headers.ack, second?.headers["message-id"]);
    await request(consumer, "ACK", tag(consumer, second as RawFrame));
    consumer.destroy();
    const next = await client(t, b);
    await subscribe(next, { id: "n", destination: queue, ack: "client" });
    const again = await nextMessage(next);
    t.is(again.body.toString(), "three", version);
    t.is(again.headers.redelivered, "true");
    await send(publisher, queue, "four");
    const fresh = await nextMessage(next);
    t.is(fresh.body.toString(), "four", "one and two were not redelivered");
    t.false("redelivered" in fresh.headers);
  }
});

test("ack:client-individual: ACK settles only that message; the others are redelivered, marked, after a disconnect", async (t) => {
  const b = await broker(t);
  const publisher = await client(t, b);
  const consumer = await client(t, b);
  await subscribe(consumer, { id: "c", destination: "/queue/individual", ack: "client-individual" });
  for (const body of ["one", "two", "three"]) await send(publisher, "/queue/individual", body);
  const got = [await nextMessage(consumer), await nextMessage(consumer), await nextMessage(consumer)];
  await request(consumer, "ACK", tag(consumer, got[1] as RawFrame));
  // An ACK of an already settled or unknown message is ignored.
  await request(consumer, "ACK", tag(consumer, got[1] as RawFrame));
  await request(consumer, "ACK", { id: "no-such-delivery" });
  consumer.destroy();
  const next = await client(t, b);
  await subscribe(next, { id: "n", destination: "/queue/individual", ack: "client-individual" });
  const again = [await nextMessage(next), await nextMessage(next)];
  t.deepEqual(text(again), ["one", "three"]);
  t.true(again.every((m) => m.headers.redelivered === "true"));
  const before = new Set(got.map((m) => m.headers["message-id"]));
  t.false(
    again.some((m) => before.has(m.headers["message-id"])),
    "message-ids are unique across connections: a redelivery on a new connection has an id never seen",
  );
});

test("prefetch-count bounds unacknowledged deliveries per consumer", async (t) => {
  const b = await broker(t);
  const publisher = await client(t, b);
  const one = await client(t, b);
  await subscribe(one, { id: "1", destination: "/queue/prefetch", ack: "client-individual", "prefetch-count": 1 });
  for (const body of ["a", "b", "c"]) await send(publisher, "/queue/prefetch", body);
  const a = await nextMessage(one);
  t.is(a.body.toString(), "a");
  t.is(await queueDepth(b, "prefetch"), 2, "b and c wait: one unacked message is all consumer one may hold");
  const two = await client(t, b);
  await subscribe(two, { id: "2", destination: "/queue/prefetch", ack: "client-individual", "prefetch-count": 1 });
  t.deepEqual(await bodies(two, 1), ["b"]);
  await request(one, "ACK", tag(one, a));
  t.deepEqual(await bodies(one, 1), ["c"], "an ACK makes room for the next");
});

test("NACK puts the message back: it is delivered again marked redelivered:true", async (t) => {
  const b = await broker(t);
  const c = await client(t, b);
  await subscribe(c, { id: "1", destination: "/queue/nack", ack: "client-individual" });
  await send(c, "/queue/nack", "retry me");
  const first = await nextMessage(c);
  t.false("redelivered" in first.headers);
  await request(c, "NACK", tag(c, first));
  const again = await nextMessage(c);
  t.is(again.body.toString(), "retry me");
  t.is(again.headers.redelivered, "true");
  await request(c, "ACK", tag(c, again));
  t.is(await queueDepth(b, "nack"), 0);
  t.is(b.stats().counters.redelivered, 1);
});

test("unacknowledged messages go to another consumer when theirs disconnects or unsubscribes", async (t) => {
  const b = await broker(t);
  const publisher = await client(t, b);
  const first = await client(t, b);
  await subscribe(first, { id: "1", destination: "/queue/handover", ack: "client" });
  await send(publisher, "/queue/handover", "a");
  await nextMessage(first);
  const second = await client(t, b);
  await subscribe(second, { id: "2", destination: "/queue/handover", ack: "client-individual" });
  first.destroy();
  const moved = await nextMessage(second);
  t.is(moved.body.toString(), "a");
  t.is(moved.headers.redelivered, "true");
  const third = await client(t, b);
  await subscribe(third, { id: "3", destination: "/queue/handover", ack: "client" });
  await request(second, "UNSUBSCRIBE", { id: "2" });
  t.deepEqual(await bodies(third, 1), ["a"]);
});

test("messages one subscription of a closing connection gives back are not handed to its other subscriptions", async (t) => {
  const b = await broker(t);
  const publisher = await client(t, b);
  const leaving = await client(t, b);
  await subscribe(leaving, { id: "careful", destination: "/queue/twice", ack: "client-individual" });
  await subscribe(leaving, { id: "auto", destination: "/queue/twice" });
  await send(publisher, "/queue/twice", "precious");
  t.is((await nextMessage(leaving)).headers.subscription, "careful");
  leaving.destroy();
  await waitFor(() => b.stats().connections === 1, 5_000, "the connection to go");
  t.is(await queueDepth(b, "twice"), 1, "the message is back in the queue, not lost to the auto-ack subscription");
  const next = await client(t, b);
  await subscribe(next, { id: "n", destination: "/queue/twice" });
  t.deepEqual(await bodies(next, 1), ["precious"]);
});

test("a client-ack subscriber that reads but never acknowledges is bounded like a slow consumer", async (t) => {
  const b = await broker(t, { limits: { slowConsumerMessages: 5 } });
  const hoarder = await client(t, b);
  await subscribe(hoarder, { id: "h", destination: "/topic/hoard", ack: "client" });
  const publisher = await client(t, b);
  for (let i = 0; i < 11; i++) await send(publisher, "/topic/hoard", `m${i}`);
  const error = await errorAndClose(hoarder);
  t.is(error.headers.message, "slow consumer");
  t.is(hoarder.frames.filter((f) => f.command === "MESSAGE").length, 5, "no more unacknowledged messages than the limit");
});

// ---- Transactions ---------------------------------------------------------------------

test("transactions: SENDs are held until COMMIT and dropped on ABORT", async (t) => {
  const b = await broker(t);
  const sub = await client(t, b);
  await subscribe(sub, { id: "1", destination: "/topic/tx" });
  const c = await client(t, b);
  await request(c, "BEGIN", { transaction: "t1" });
  await send(c, "/topic/tx", "held-1", { transaction: "t1" });
  await send(c, "/topic/tx", "held-2", { transaction: "t1" });
  await send(c, "/topic/tx", "direct");
  t.deepEqual(await bodies(sub, 1), ["direct"], "nothing of the transaction before COMMIT");
  await request(c, "COMMIT", { transaction: "t1" });
  t.deepEqual(await bodies(sub, 2), ["held-1", "held-2"]);
  await request(c, "BEGIN", { transaction: "t2" });
  await send(c, "/topic/tx", "aborted", { transaction: "t2" });
  await request(c, "ABORT", { transaction: "t2" });
  await send(c, "/topic/tx", "after");
  t.deepEqual(await bodies(sub, 1), ["after"]);
  // A finished transaction's name is free again.
  await request(c, "BEGIN", { transaction: "t1" });
  await request(c, "COMMIT", { transaction: "t1" });
});

test("transactions: an ACK in an aborted transaction does not settle; in a committed one it does", async (t) => {
  const b = await broker(t);
  const publisher = await client(t, b);
  const c = await client(t, b);
  await subscribe(c, { id: "1", destination: "/queue/tx-ack", ack: "client-individual" });
  await send(publisher, "/queue/tx-ack", "kept");
  await send(publisher, "/queue/tx-ack", "settled");
  const [kept, settled] = [await nextMessage(c), await nextMessage(c)];
  await request(c, "BEGIN", { transaction: "no" });
  await request(c, "ACK", { ...tag(c, kept), transaction: "no" });
  await request(c, "ABORT", { transaction: "no" });
  await request(c, "BEGIN", { transaction: "yes" });
  await request(c, "ACK", { ...tag(c, settled), transaction: "yes" });
  await request(c, "COMMIT", { transaction: "yes" });
  c.destroy();
  await waitFor(() => b.stats().connections === 1, 5_000, "the consumer to go");
  const next = await client(t, b);
  await subscribe(next, { id: "n", destination: "/queue/tx-ack" });
  t.deepEqual(await bodies(next, 1), ["kept"]);
  t.is(await queueDepth(b, "tx-ack"), 0, "settled was not redelivered");
  t.is(next.inbox.length, 0);
});

test("transactions: unknown or repeated transaction names are errors", async (t) => {
  const b = await broker(t);
  const cases: [Buffer[], RegExp][] = [
    [[frame("SEND", { destination: "/topic/x", transaction: "nope" }, "x")], /^SEND in unknown transaction "nope": BEGIN it first$/],
    [[frame("ACK", { id: "1", transaction: "nope" })], /^ACK in unknown transaction "nope"/],
    [[frame("COMMIT", { transaction: "nope" })], /^COMMIT of unknown transaction "nope"$/],
    [[frame("ABORT", { transaction: "nope" })], /^ABORT of unknown transaction "nope"$/],
    [[frame("BEGIN", { transaction: "t" }), frame("BEGIN", { transaction: "t" })], /^transaction "t" has already begun$/],
    [[frame("BEGIN", { transaction: "t" }), frame("COMMIT", { transaction: "t" }), frame("COMMIT", { transaction: "t" })], /^COMMIT of unknown transaction "t"$/],
  ];
  for (const [frames, expected] of cases) {
    const c = await client(t, b);
    c.write(Buffer.concat(frames));
    t.regex((await errorAndClose(c)).headers.message ?? "", expected);
  }
});

test("transactions: a SEND the broker would refuse is refused when sent, so COMMIT never applies half a transaction", async (t) => {
  const b = await broker(t);
  const sub = await client(t, b);
  await subscribe(sub, { id: "1", destination: "/topic/atomic" });
  const c = await client(t, b);
  await request(c, "BEGIN", { transaction: "t" });
  await send(c, "/topic/atomic", "first half", { transaction: "t" });
  c.write(frame("SEND", { destination: "/nowhere", transaction: "t", receipt: "bad" }));
  const error = await errorAndClose(c);
  t.regex(error.headers.message ?? "", /destination "\/nowhere" is not/);
  t.is(error.headers["receipt-id"], "bad");
  const d = await client(t, b);
  await request(d, "BEGIN", { transaction: "t" });
  d.write(frame("ACK", { transaction: "t", receipt: "noid" }));
  t.regex((await errorAndClose(d)).headers.message ?? "", /^ACK needs an id header$/);
  const publisher = await client(t, b);
  await send(publisher, "/topic/atomic", "marker");
  t.deepEqual(await bodies(sub, 1), ["marker"], "the first half was never delivered");
});

// ---- Group subscriptions (RabbitMQ's x-queue-name) ------------------------------------

const group = (name: string, extra: Record<string, string | number> = {}) => ({
  destination: "/topic/events",
  "x-queue-name": name,
  durable: "true",
  "auto-delete": "false",
  ...extra,
});

test("group: a named queue keeps messages while no member is connected, within x-max-length, dropping the oldest", async (t) => {
  const b = await broker(t);
  const member = await client(t, b);
  await subscribe(member, { id: "g", ...group("workers", { "x-max-length": 3 }) });
  member.destroy();
  await waitFor(() => b.stats().connections === 0, 5_000, "the member to go");
  const publisher = await client(t, b);
  for (let i = 1; i <= 5; i++) await send(publisher, "/topic/events", `e${i}`);
  t.is(await queueDepth(b, "workers"), 3);
  t.is(b.stats().counters.dropped, 2);
  const back = await client(t, b);
  await subscribe(back, { id: "g", ...group("workers", { "x-max-length": 3 }) });
  t.deepEqual(await bodies(back, 3), ["e3", "e4", "e5"]);
});

test("group: members compete for the group's messages while a plain subscriber of the topic gets them all", async (t) => {
  const b = await broker(t);
  const a = await client(t, b);
  const c = await client(t, b);
  const plain = await client(t, b);
  await subscribe(a, { id: "1", ...group("pair") });
  await subscribe(c, { id: "1", ...group("pair") });
  await subscribe(plain, { id: "p", destination: "/topic/events" });
  const publisher = await client(t, b);
  for (let i = 0; i < 6; i++) await send(publisher, "/topic/events", `e${i}`);
  t.deepEqual(await bodies(plain, 6), ["e0", "e1", "e2", "e3", "e4", "e5"]);
  await waitFor(() => a.inbox.length + c.inbox.length === 6, 5_000, "six group deliveries");
  t.is(a.inbox.length, 3);
  t.is(c.inbox.length, 3);
  t.deepEqual([...text(a.inbox), ...text(c.inbox)].sort(), ["e0", "e1", "e2", "e3", "e4", "e5"]);
});

test("group: auto-delete removes the queue with its last member; x-expires removes it after a while without members", async (t) => {
  const b = await broker(t);
  const c = await client(t, b);
  await subscribe(c, { id: "a", ...group("fleeting", { "auto-delete": "true" }) });
  await subscribe(c, { id: "e", ...group("expiring", { "x-expires": 300 }) });
  await request(c, "UNSUBSCRIBE", { id: "a" });
  t.is(await queueDepth(b, "fleeting"), undefined, "deleted with its last member");
  await request(c, "UNSUBSCRIBE", { id: "e" });
  await send(c, "/topic/events", "kept for now");
  t.is(await queueDepth(b, "expiring"), 1);
  await waitFor(() => b.stats().queues.every((q) => q.name !== "expiring"), 5_000, "the expiring queue to go");
  t.is(b.stats().topics, 0, "its binding went with it");
});

test("group: redeclaring a queue with other arguments is an error; x-max-length 0 keeps nothing", async (t) => {
  const b = await broker(t);
  const c = await client(t, b);
  await subscribe(c, { id: "1", ...group("fixed", { "x-max-length": 10 }) });
  const d = await client(t, b);
  d.write(frame("SUBSCRIBE", { id: "1", ...group("fixed", { "x-max-length": 20 }) }));
  t.is((await errorAndClose(d)).headers.message, 'queue "fixed" exists with x-max-length 10, not 20');
  const e = await client(t, b);
  await subscribe(e, { id: "z", ...group("nothing", { "x-max-length": 0 }) });
  await request(e, "UNSUBSCRIBE", { id: "z" });
  for (let i = 0; i < 3; i++) await send(e, "/topic/events", `n${i}`);
  t.is(await queueDepth(b, "nothing"), 0);
  t.is(b.stats().counters.dropped, 3);
  await subscribe(e, { id: "z2", ...group("nothing", { "x-max-length": 0 }) });
  await send(e, "/topic/events", "live");
  t.deepEqual(await bodies(e, 1), ["live"], "a member present still gets messages");
});

test("a /queue/ declared by SUBSCRIBE honours x-max-length", async (t) => {
  const b = await broker(t);
  const c = await client(t, b);
  await subscribe(c, { id: "1", destination: "/queue/capped", "x-max-length": 2 });
  await request(c, "UNSUBSCRIBE", { id: "1" });
  for (const body of ["a", "b", "c"]) await send(c, "/queue/capped", body);
  await subscribe(c, { id: "2", destination: "/queue/capped" });
  t.deepEqual(await bodies(c, 2), ["b", "c"]);
});
