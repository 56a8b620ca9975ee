import test from "ava";
import { BrokerMessage } from "../../../daemons/broker/broker-message.ts";
import { type Consumer, MessageQueue, type QueueArgs, type QueuedMessage } from "../../../daemons/broker/message-queue.ts";

function queue(args: Partial<QueueArgs> = {}) {
  const events = { dropped: 0, full: 0, unused: 0 };
  const q = new MessageQueue(
    "q",
    { maxLength: 3, overflow: "drop-head", expiresMs: 0, autoDelete: false, ...args },
    { onDrop: () => void events.dropped++, onFull: () => void events.full++, onUnused: () => void events.unused++ },
  );
  return { q, events };
}

function consumer(room = Number.POSITIVE_INFINITY): Consumer & { got: QueuedMessage[] } {
  const got: QueuedMessage[] = [];
  return { got, canTake: () => got.length < room, take: (entry) => void got.push(entry) };
}

/** A small message whose body is cut from Node's shared Buffer pool, as the frame parser's are. */
const message = (text: string) => new BrokerMessage("/topic/t", {}, Buffer.from(Buffer.from(text)));

const texts = (entries: QueuedMessage[]) => entries.map((e) => e.message.body.toString());

test("drop-head: beyond maxLength the oldest waiting message goes, and each drop is reported", (t) => {
  const { q, events } = queue({ maxLength: 3 });
  for (const text of ["a", "b", "c", "d", "e"]) q.enqueue(message(text));
  t.is(q.depth, 3);
  t.is(events.dropped, 2);
  const c = consumer();
  q.addConsumer(c);
  t.deepEqual(texts(c.got), ["c", "d", "e"]);
});

test("maxLength 0 keeps nothing while no consumer has room, and still delivers to one that has", (t) => {
  const { q, events } = queue({ maxLength: 0 });
  for (const text of ["a", "b", "c"]) q.enqueue(message(text));
  t.is(q.depth, 0);
  t.is(events.dropped, 3);
  const c = consumer();
  q.addConsumer(c);
  t.deepEqual(c.got, []);
  q.enqueue(message("live"));
  t.deepEqual(texts(c.got), ["live"]);
  t.is(events.dropped, 3);
});

test("reject: a full private queue reports itself instead of dropping", (t) => {
  const { q, events } = queue({ maxLength: 2, overflow: "reject" });
  for (const text of ["a", "b", "c"]) q.enqueue(message(text));
  t.is(events.full, 1);
  t.is(events.dropped, 0);
  t.is(q.depth, 2);
});

test("requeued messages go to the front, marked redelivered, round-robin over consumers with room", (t) => {
  const { q } = queue({ maxLength: 10 });
  for (const text of ["a", "b"]) q.enqueue(message(text));
  const taken = { message: message("back"), redelivered: false };
  q.requeue([taken]);
  const one = consumer(2);
  const two = consumer(2);
  q.addConsumer(one);
  q.addConsumer(two);
  t.deepEqual(texts(one.got), ["back", "a"]);
  t.true(one.got[0]?.redelivered);
  t.false(one.got[1]?.redelivered);
  q.enqueue(message("c"));
  q.enqueue(message("d"));
  t.deepEqual(texts(two.got), ["b", "c"], "the next in turn with room");
  t.deepEqual(texts(one.got), ["back", "a"]);
  t.is(q.depth, 1, "d waits: nobody has room");
});

test("a message that waits in a queue holds memory of its own, not a 64 KiB pool slab; one delivered at once is not copied", (t) => {
  const { q } = queue({ maxLength: 10 });
  const waiting = message("waits");
  waiting.tail("1.2");
  t.true(waiting.body.buffer.byteLength > waiting.body.length, "precondition: the body starts in the pool");
  q.enqueue(waiting);
  t.is(waiting.body.buffer.byteLength, waiting.body.length);
  t.is(waiting.body.toString(), "waits");
  const tail = waiting.tail("1.2");
  t.is(tail.buffer.byteLength, tail.length, "a tail encoded before it waited was copied too");
  const later = waiting.tail("1.0");
  t.is(later.buffer.byteLength, later.length, "and one encoded after");
  t.true(later.toString().endsWith("waits\0"));

  const { q: live } = queue();
  live.addConsumer(consumer());
  const passing = message("passes");
  const body = passing.body;
  live.enqueue(passing);
  t.is(passing.body, body, "the fast path keeps the pooled body");
});

test("expiry: a queue without consumers is reported unused after x-expires; a consumer stops the clock", async (t) => {
  const { q, events } = queue({ expiresMs: 50 });
  const c = consumer();
  q.addConsumer(c);
  await new Promise((resolve) => setTimeout(resolve, 120));
  t.is(events.unused, 0);
  q.removeConsumer(c);
  const deadline = Date.now() + 5_000;
  while (events.unused === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  t.is(events.unused, 1);
  const { q: fleeting, events: fleetingEvents } = queue({ autoDelete: true });
  const d = consumer();
  fleeting.addConsumer(d);
  fleeting.removeConsumer(d);
  t.is(fleetingEvents.unused, 1, "auto-delete: at once when the last consumer leaves");
});
