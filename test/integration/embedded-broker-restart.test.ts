import test from "ava";
import type { Envelope } from "../../shared/messages/index.ts";
import { startTestBroker } from "../helpers/embedded-broker.ts";
import { testBus, uniquePrefix, waitFor } from "../helpers/test-bus.ts";

// The embedded broker keeps its state in memory. What the daemons rely on is
// that a restarted broker gets their subscriptions back by itself, and that a
// publish made while it was down is not dropped by the bus: it waits and is
// confirmed by the new broker. What the new broker cannot do is deliver it to
// subscribers that have not come back yet (docs/broker.md, "What a restart loses").

type Text = Envelope<{ text: string }>;

test("after a broker restart, buses reconnect and resubscribe (plain and group); a publish made meanwhile is confirmed by the new broker", async (t) => {
  const first = await startTestBroker();
  const port = first.port;
  const prefix = uniquePrefix();
  const publisher = testBus(first.url, prefix);
  const watcher = testBus(first.url, prefix);
  const member = testBus(first.url, prefix);
  let second: Awaited<ReturnType<typeof startTestBroker>> | undefined;
  t.teardown(async () => {
    await Promise.all([publisher, watcher, member].map((bus) => bus.close({ graceMs: 0 })));
    await second?.close();
  });
  await Promise.all([publisher, watcher, member].map((bus) => bus.connected(10_000)));
  const watched: Text[] = [];
  const grouped: Text[] = [];
  await watcher.subscribe("events", (m: Text) => void watched.push(m));
  await member.subscribe("events", (m: Text) => void grouped.push(m), { group: "restart" });
  await publisher.publish("events", { text: "before" });
  await waitFor(() => watched.length === 1 && grouped.length === 1, 10_000, "the first message");

  await first.close();
  await waitFor(() => publisher.state !== "connected" && watcher.state !== "connected", 10_000, "the buses to notice");
  // Published while no broker is there: waits for the connection (bus.publishTimeout), it is not dropped.
  const during = publisher.publish("events", { text: "during" });
  second = await startTestBroker({ port });
  const confirmed = await during;
  t.is(confirmed.body.text, "during");
  t.true(second.stats().counters.messagesIn >= 1, "the new broker received the message published while it was down");
  await Promise.all([watcher, member].map((bus) => bus.connected(15_000)));
  await publisher.publish("events", { text: "after" });
  await waitFor(() => watched.some((m) => m.body.text === "after") && grouped.some((m) => m.body.text === "after"), 15_000, "the later message at both subscribers");
  t.is(watched[0]?.body.text, "before");
  t.is(watched.at(-1)?.body.text, "after");
  t.is(grouped.at(-1)?.body.text, "after");
  t.is(second.stats().queues.find((q) => q.name.endsWith(".group.restart"))?.consumers, 1, "the group queue was declared again on the new broker");
});
