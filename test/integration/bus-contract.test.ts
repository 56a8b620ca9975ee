import { createHash, randomUUID } from "node:crypto";
import test, { type ExecutionContext } from "ava";
import type { Bus } from "../../shared/bus/bus.ts";
import { routeName } from "../../shared/bus/destinations.ts";
import type { Envelope } from "../../shared/messages/index.ts";
import { type BrokerUnderTest, brokers, reachable, viaPort } from "../helpers/brokers.ts";
import { startTestBroker } from "../helpers/embedded-broker.ts";
import { startTcpProxy } from "../helpers/tcp-proxy.ts";
import { rawTransport, testBus, transportReady, uniquePrefix, waitFor } from "../helpers/test-bus.ts";

// One contract, every transport: the same cases run on the in-memory bus,
// RabbitMQ over STOMP and AMQP, ActiveMQ over STOMP and the embedded broker.
// A daemon must not be able to tell which broker it is on.

const embedded = await startTestBroker({ heartbeatMs: 2_000 });
test.after.always(() => embedded.close());
const suite: BrokerUnderTest[] = [...brokers, { name: "embedded", url: embedded.url, endpoint: { host: "127.0.0.1", port: embedded.port } }];

type Text = Envelope<{ text: string; level: string }>;

function collector() {
  const received: Text[] = [];
  return { received, handler: (message: Text) => void received.push(message) };
}

async function withBuses(t: ExecutionContext, broker: BrokerUnderTest, count: number, prefix = uniquePrefix()): Promise<Bus[]> {
  if (broker.endpoint && !(await reachable(broker.endpoint.host, broker.endpoint.port))) {
    throw new Error(`${broker.name} is not reachable at ${broker.endpoint.host}:${broker.endpoint.port}: run .ci/brokers to install and start it`);
  }
  const buses = Array.from({ length: count }, () => testBus(broker.url, prefix));
  t.teardown(() => Promise.all(buses.map((bus) => bus.close({ graceMs: 0 }))).then(() => {}));
  await Promise.all(buses.map((bus) => bus.connected(10_000)));
  return buses;
}

for (const broker of suite) {
  const contract = (title: string, fn: (t: ExecutionContext) => Promise<void>) => test(`${broker.name}: ${title}`, fn);

  contract("broadcast: every subscriber gets every message", async (t) => {
    const [publisher, a, b] = await withBuses(t, broker, 3);
    const first = collector();
    const second = collector();
    await a?.subscribe("events", first.handler);
    await b?.subscribe("events", second.handler);
    for (let i = 0; i < 5; i++) await publisher?.publish("events", { text: `m${i}` });
    await waitFor(() => first.received.length === 5 && second.received.length === 5, 10_000, "5 messages at each subscriber");
    t.deepEqual(
      first.received.map((m) => m.body.text),
      ["m0", "m1", "m2", "m3", "m4"],
    );
    t.deepEqual(
      second.received.map((m) => m.id),
      first.received.map((m) => m.id),
    );
    t.is(first.received[0]?.type, "events.v1");
    t.is(first.received[0]?.source.component, "test");
  });

  contract("group: members share messages, each handled once, beside a broadcast subscriber", async (t) => {
    const [publisher, m1, m2, watcher] = await withBuses(t, broker, 4);
    const group = `g${randomUUID().slice(0, 6)}`;
    const one = collector();
    const two = collector();
    const all = collector();
    await m1?.subscribe("events", one.handler, { group });
    await m2?.subscribe("events", two.handler, { group });
    await watcher?.subscribe("events", all.handler);
    const sent = new Set<string>();
    for (let i = 0; i < 20; i++) sent.add((await (publisher as Bus).publish("events", { text: `g${i}` })).id);
    await waitFor(() => one.received.length + two.received.length >= 20 && all.received.length >= 20, 10_000, "20 group deliveries");
    await new Promise((resolve) => setTimeout(resolve, 300)); // room for a wrong duplicate to show up
    const handled = [...one.received, ...two.received].map((m) => m.id);
    t.is(handled.length, 20, "each message handled exactly once across the group");
    t.deepEqual([...handled].sort(), [...sent].sort());
    t.is(all.received.length, 20, "the broadcast subscriber still sees everything");
  });

  contract("group: messages published while no member is there wait for the group", async (t) => {
    const prefix = uniquePrefix();
    const [publisher] = await withBuses(t, broker, 1, prefix);
    const group = `g${randomUUID().slice(0, 6)}`;
    const [early] = await withBuses(t, broker, 1, prefix);
    await early?.subscribe("events", () => {}, { group }); // creates the group's queue
    await early?.close({ graceMs: 0 });
    for (let i = 0; i < 5; i++) await publisher?.publish("events", { text: `while-away-${i}` });
    const [late] = await withBuses(t, broker, 1, prefix);
    const got = collector();
    await late?.subscribe("events", got.handler, { group });
    await waitFor(() => got.received.length === 5, 10_000, "the 5 messages kept for the group");
    t.deepEqual(
      got.received.map((m) => m.body.text),
      [0, 1, 2, 3, 4].map((i) => `while-away-${i}`),
    );
  });

  contract("order: one publisher's messages arrive in the order sent", async (t) => {
    const [publisher, subscriber] = await withBuses(t, broker, 2);
    const got = collector();
    await subscriber?.subscribe("events", got.handler);
    await Promise.all(Array.from({ length: 200 }, (_, i) => publisher?.publish("events", { text: String(i) })));
    await waitFor(() => got.received.length === 200, 15_000, "200 messages");
    t.deepEqual(
      got.received.map((m) => Number(m.body.text)),
      Array.from({ length: 200 }, (_, i) => i),
    );
  });

  contract("size and text: a 1 MB body and every kind of unicode arrive intact", async (t) => {
    const [publisher, subscriber] = await withBuses(t, broker, 2);
    const got = collector();
    await subscriber?.subscribe("events", got.handler);
    const unicode = "déploiement ✓ 部署 развёртывание نشر 🚀👩‍💻 e\u0301 \u0000 \\n:colon\r\nline";
    const large = "x".repeat(1024 * 1024 - 100) + unicode;
    await publisher?.publish("events", { text: unicode });
    await publisher?.publish("events", { text: large });
    await waitFor(() => got.received.length === 2, 15_000, "both messages");
    t.is(got.received[0]?.body.text, unicode);
    const digest = (s: string) => createHash("sha256").update(s).digest("hex");
    t.is(digest(got.received[1]?.body.text ?? ""), digest(large));
  });

  contract("bad input: invalid messages go to deadletter with the reason, and the subscriber keeps working", async (t) => {
    const prefix = uniquePrefix();
    const [subscriber, watcher] = await withBuses(t, broker, 2, prefix);
    const raw = rawTransport(broker.url);
    t.teardown(() => raw.close());
    await transportReady(raw);
    const got = collector();
    const dead: Envelope<{ reason: string; rawBody: string; destination: string }>[] = [];
    await watcher?.subscribe("deadletter", (m) => void dead.push(m));
    await subscriber?.subscribe("events", got.handler);
    const route = routeName(prefix, "events");
    const publishRaw = (body: string) => raw.publish(body, { route, headers: {}, confirm: true });
    const valid = { id: randomUUID(), time: new Date().toISOString(), source: { component: "x", host: "h" }, correlationId: randomUUID() };
    await publishRaw("this is not json {");
    await publishRaw(JSON.stringify({ ...valid, type: "builds.v1", body: { job: "j", phase: "queued" } }));
    await publishRaw(JSON.stringify({ ...valid, type: "events.v1", body: { text: 42 } }));
    await subscriber?.publish("events", { text: "still alive" });
    await waitFor(() => dead.length === 3 && got.received.length === 1, 10_000, "3 dead letters and 1 good message");
    t.is(got.received[0]?.body.text, "still alive");
    const reasons = dead.map((d) => d.body.reason).sort();
    t.regex(reasons.find((r) => r.startsWith("body is not JSON")) ?? "", /not JSON/);
    t.truthy(reasons.find((r) => r.includes('type "builds.v1" does not belong on topic "events"')));
    t.truthy(reasons.find((r) => r.includes("invalid events.v1 body: text")));
    t.true(dead.every((d) => d.body.destination === route));
    t.truthy(dead.find((d) => d.body.rawBody === "this is not json {"), "the raw body is kept");
  });

  contract("failing handler: redelivered once, then dead-lettered with the error", async (t) => {
    const [publisher, subscriber, watcher] = await withBuses(t, broker, 3);
    const group = `g${randomUUID().slice(0, 6)}`;
    const dead: Envelope<{ reason: string }>[] = [];
    await watcher?.subscribe("deadletter", (m) => void dead.push(m));
    const attempts: boolean[] = [];
    await subscriber?.subscribe(
      "events",
      (_message, context) => {
        attempts.push(context.redelivered);
        throw new Error("disk full");
      },
      { group },
    );
    await publisher?.publish("events", { text: "poison" });
    await waitFor(() => dead.length === 1, 15_000, "the dead letter");
    t.deepEqual(attempts, [false, true]);
    t.regex(dead[0]?.body.reason ?? "", /handler failed twice: disk full/);
  });

  if (broker.endpoint) {
    const { host, port } = broker.endpoint;
    contract("reconnect: after the connection drops, subscriptions come back and nothing published is lost silently", async (t) => {
      if (!(await reachable(host, port))) throw new Error(`${broker.name} is not reachable at ${host}:${port}: run .ci/brokers`);
      const prefix = uniquePrefix();
      const proxy = await startTcpProxy(host, port);
      t.teardown(() => proxy.close());
      const [direct] = await withBuses(t, broker, 1, prefix);
      const viaProxy = testBus(viaPort(broker.url, proxy.port), prefix);
      t.teardown(() => viaProxy.close({ graceMs: 0 }));
      await viaProxy.connected(10_000);
      const group = `g${randomUUID().slice(0, 6)}`;
      const broadcast = collector();
      const grouped = collector();
      const atDirect = collector();
      await viaProxy.subscribe("events", broadcast.handler);
      await viaProxy.subscribe("events", grouped.handler, { group });
      await direct?.subscribe("events", atDirect.handler);
      const states: string[] = [];
      viaProxy.onState((change) => states.push(change.state));

      proxy.pause(1500); // the broker is gone for 1.5 s, as in a restart
      await waitFor(() => viaProxy.state !== "connected", 5_000, "the bus to notice the outage");
      // Published by a healthy peer during the outage: kept for the group, gone for a broadcast subscriber.
      await direct?.publish("events", { text: "during-outage" });
      // Published through the broken link: waits for the connection instead of vanishing.
      const waiting = viaProxy.publish("events", { text: "sent-while-down" });
      await waiting;
      await viaProxy.connected(15_000);
      await direct?.publish("events", { text: "after" });

      await waitFor(
        () => broadcast.received.some((m) => m.body.text === "after") && grouped.received.some((m) => m.body.text === "after"),
        15_000,
        "messages after the reconnect",
      );
      await waitFor(() => atDirect.received.some((m) => m.body.text === "sent-while-down"), 10_000, "the publish made while down");
      t.true(states.includes("disconnected") && states.at(-1) === "connected", `state changes: ${states.join(",")}`);
      t.true(grouped.received.some((m) => m.body.text === "during-outage"), "the group got what was published while it was away");
    });
  }
}

test("a publish that cannot reach any broker fails loudly within its timeout", async (t) => {
  const bus = testBus("stomp://127.0.0.1:1", uniquePrefix(), { publishTimeoutMs: 500 });
  t.teardown(() => bus.close({ graceMs: 0 }));
  const started = Date.now();
  await t.throwsAsync(bus.publish("events", { text: "nowhere" }), { name: "BusUnavailableError", message: /could not publish to events/ });
  t.true(Date.now() - started < 3_000);
});

test("STOMP and AMQP daemons on one RabbitMQ see each other's messages, and share a group", async (t) => {
  const stompBroker = brokers.find((b) => b.name === "rabbitmq-stomp") as BrokerUnderTest;
  const amqpBroker = brokers.find((b) => b.name === "rabbitmq-amqp") as BrokerUnderTest;
  const prefix = uniquePrefix();
  const [overStomp] = await withBuses(t, stompBroker, 1, prefix);
  const [overAmqp] = await withBuses(t, amqpBroker, 1, prefix);
  const atStomp = collector();
  const atAmqp = collector();
  await overStomp?.subscribe("events", atStomp.handler);
  await overAmqp?.subscribe("events", atAmqp.handler);
  await overStomp?.publish("events", { text: "from stomp" });
  await overAmqp?.publish("events", { text: "from amqp" });
  await waitFor(() => atStomp.received.length === 2 && atAmqp.received.length === 2, 10_000, "both messages on both sides");
  t.deepEqual(atStomp.received.map((m) => m.body.text).sort(), ["from amqp", "from stomp"]);
  t.deepEqual(atAmqp.received.map((m) => m.id).sort(), atStomp.received.map((m) => m.id).sort());

  const group = `g${randomUUID().slice(0, 6)}`;
  const stompMember = collector();
  const amqpMember = collector();
  await overStomp?.subscribe("events", stompMember.handler, { group });
  await overAmqp?.subscribe("events", amqpMember.handler, { group });
  for (let i = 0; i < 20; i++) await overStomp?.publish("events", { text: `shared-${i}` });
  await waitFor(() => stompMember.received.length + amqpMember.received.length >= 20, 10_000, "20 group deliveries");
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.is(stompMember.received.length + amqpMember.received.length, 20, "one queue, shared across protocols");
});

for (const broker of suite.filter((b) => b.endpoint)) {
  test(`${broker.name}: a failover set skips a dead broker`, async (t) => {
    const dead = viaPort(broker.url, 1);
    const bus = testBus(`${dead},${broker.url}`, uniquePrefix());
    t.teardown(() => bus.close({ graceMs: 0 }));
    const states: { state: string; url: string; error?: Error }[] = [];
    bus.onState((change) => states.push(change));
    await bus.connected(15_000);
    const got = collector();
    await bus.subscribe("events", got.handler);
    await bus.publish("events", { text: "via the second broker" });
    await waitFor(() => got.received.length === 1, 10_000, "the message");
    const deadAttempt = states.find((s) => s.state === "disconnected" && /:1\/?$/.test(s.url));
    t.truthy(deadAttempt, JSON.stringify(states));
    t.regex(deadAttempt?.error?.message ?? "", /ECONNREFUSED/, "the reason is reported");
    t.false(/:(guest|admin)@/.test(bus.description), "passwords are masked in descriptions");
  });
}
