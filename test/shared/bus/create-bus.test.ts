import test from "ava";
import { parseBusUrls } from "../../../shared/bus/create-bus.ts";
import type { Envelope } from "../../../shared/messages/index.ts";
import { testBus, uniquePrefix, waitFor } from "../../helpers/test-bus.ts";

// Behaviour of the generic bus layer, on the in-memory transport. The same
// behaviour on real brokers is the job of test/integration/bus-contract.

function memoryBuses(count: number, overrides = {}) {
  const url = `memory://${uniquePrefix()}`;
  return Array.from({ length: count }, () => testBus(url, "dk", overrides));
}

test("publishing an invalid body is a programming error: it throws and sends nothing", async (t) => {
  const [publisher, subscriber] = memoryBuses(2);
  const got: unknown[] = [];
  await subscriber?.subscribe("events", (m) => void got.push(m));
  await publisher?.connected(1000);
  await t.throwsAsync(publisher?.publish("events", { text: 5 } as never) as Promise<unknown>, { name: "InvalidMessageError", message: /text/ });
  await publisher?.publish("events", { text: "ok" });
  await waitFor(() => got.length === 1, 2000, "the valid message");
  t.is(got.length, 1);
});

test("a handler that outlives its timeout is aborted, retried once, then dead-lettered", async (t) => {
  const [bus, watcher] = memoryBuses(2, { handlerTimeoutMs: 100 });
  const dead: Envelope<{ reason: string }>[] = [];
  await watcher?.subscribe("deadletter", (m) => void dead.push(m));
  const aborted: boolean[] = [];
  await bus?.subscribe("events", (_m, { signal }) => new Promise<void>((resolve) => signal.addEventListener("abort", () => {
    aborted.push(true);
    resolve();
  })));
  await bus?.publish("events", { text: "slow" });
  await waitFor(() => dead.length === 1, 3000, "the dead letter");
  t.is(aborted.length, 2, "each attempt saw its signal abort");
  t.regex(dead[0]?.body.reason ?? "", /did not finish within 100 ms/);
});

test("close lets an in-flight handler finish within the grace period", async (t) => {
  const url = `memory://${uniquePrefix()}`;
  const bus = testBus(url, "dk");
  const publisher = testBus(url, "dk");
  t.teardown(() => publisher.close());
  let finished = false;
  let started = false;
  await bus.subscribe("events", async () => {
    started = true;
    await new Promise((resolve) => setTimeout(resolve, 300));
    finished = true;
  });
  await publisher.publish("events", { text: "work" });
  await waitFor(() => started, 2000, "the handler to start");
  await bus.close({ graceMs: 2000 });
  t.true(finished, "close waited for the handler");
  t.is(bus.state, "closed");
  await t.throwsAsync(bus.publish("events", { text: "late" }), { name: "BusUnavailableError" });
});

test("messages of a stopping group member go back to the group, not to waste", async (t) => {
  const url = `memory://${uniquePrefix()}`;
  const [publisher, leaving, staying] = [testBus(url, "dk"), testBus(url, "dk"), testBus(url, "dk")];
  t.teardown(() => Promise.all([publisher.close(), staying.close()]).then(() => {}));
  const handledByStaying: string[] = [];
  let release: () => void = () => {};
  const blocked = new Promise<void>((resolve) => {
    release = resolve;
  });
  await leaving.subscribe("events", () => blocked, { group: "workers" });
  await publisher.publish("events", { text: "first" });
  await new Promise((resolve) => setTimeout(resolve, 50));
  for (let i = 0; i < 3; i++) await publisher.publish("events", { text: `queued-${i}` });
  const closing = leaving.close({ graceMs: 1000 });
  await staying.subscribe("events", (m) => void handledByStaying.push(m.body.text), { group: "workers" });
  release();
  await closing;
  await waitFor(() => handledByStaying.filter((x) => x.startsWith("queued")).length === 3, 2000, "the queued messages at the other member");
  t.false(handledByStaying.includes("first"), "the in-flight message was finished by the member that had it");
});

test("concurrency bounds how many handlers run at once", async (t) => {
  const [publisher, subscriber] = memoryBuses(2);
  let running = 0;
  let peak = 0;
  let done = 0;
  await subscriber?.subscribe(
    "events",
    async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 20));
      running--;
      done++;
    },
    { concurrency: 3 },
  );
  await Promise.all(Array.from({ length: 12 }, (_, i) => publisher?.publish("events", { text: `${i}` })));
  await waitFor(() => done === 12, 3000, "12 handled");
  t.is(peak, 3);
});

test("bus URLs: a failover set of one protocol, with clear errors otherwise", (t) => {
  const set = parseBusUrls("stomp://a:61613, stomp+ssl://b:61614");
  t.is(set.protocol, "stomp");
  t.deepEqual(
    set.urls.map((u) => u.host),
    ["a:61613", "b:61614"],
  );
  t.is(parseBusUrls("amqps://u:p@rabbit").protocol, "amqp");
  t.throws(() => parseBusUrls("stomp://a,amqp://b"), { message: /mixes protocols/ });
  t.throws(() => parseBusUrls("http://a"), { message: /scheme "http:" is not supported/ });
  t.throws(() => parseBusUrls("not a url"), { message: /is not a URL/ });
  t.throws(() => parseBusUrls(" , "), { message: /empty/ });
});

test("publish with `envelope` re-sends a message built earlier under its id, time and source; they are checked", async (t) => {
  const [publisher, subscriber] = memoryBuses(2);
  const got: Envelope<{ text: string }>[] = [];
  await subscriber?.subscribe("events", (m) => void got.push(m));
  const kept = { id: "0e8a8b8e-4d0f-4b5e-9b8e-1c2d3e4f5a6b", time: "2024-05-01T12:00:00.000Z", source: { component: "git-hook", host: "git-1" } };
  const sent = await publisher?.publish("events", { text: "spooled" }, { envelope: kept, correlationId: "7f1d2c3b-4a5e-4f60-8b7c-9d0e1f2a3b4c" });
  await waitFor(() => got.length === 1, 2000, "the message");
  t.deepEqual(got[0], { type: "events.v1", ...kept, correlationId: "7f1d2c3b-4a5e-4f60-8b7c-9d0e1f2a3b4c", body: { text: "spooled", level: "info" } });
  t.deepEqual(sent, got[0]);
  const plain = await publisher?.publish("events", { text: "fresh" });
  t.not(plain?.id, kept.id, "without the option, a new id");
  t.is(plain?.source.component, "test");
  await t.throwsAsync(publisher?.publish("events", { text: "x" }, { envelope: { ...kept, id: "nope" } }) as Promise<unknown>, {
    name: "InvalidMessageError",
    message: /invalid envelope: id/,
  });
  await t.throwsAsync(publisher?.publish("events", { text: "x" }, { envelope: { ...kept, time: "yesterday" } }) as Promise<unknown>, {
    name: "InvalidMessageError",
  });
});
