import { randomUUID } from "node:crypto";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import amqp from "amqplib";
import test, { type ExecutionContext } from "ava";
import pino from "pino";
import { amqpTransport } from "../../../shared/bus/amqp-transport.ts";
import { groupQueueName } from "../../../shared/bus/destinations.ts";
import {
  type BusState,
  type Delivery,
  type StateChange,
  type Transport,
  TransportDisconnectedError,
  type TransportOptions,
} from "../../../shared/bus/transport.ts";
import { startTcpProxy } from "../../helpers/tcp-proxy.ts";
import { testTransportOptions } from "../../helpers/test-bus.ts";

// Against the RabbitMQ on 127.0.0.1:5672 (guest/guest). Every test has its own
// routes and groups, so they run concurrently without seeing each other.

const broker = new URL("amqp://guest:guest@127.0.0.1:5672/");
const json = (n: number | string) => JSON.stringify({ n });

function options(overrides: Partial<TransportOptions> = {}): TransportOptions {
  return testTransportOptions([broker], { reconnect: { initialMs: 50, maxMs: 200 }, groupMaxLength: 100, connectTimeoutMs: 2_000, ...overrides });
}

function uniqueRoute(): string {
  return `test-${randomUUID()}.x`;
}

/** Resolves at the next change to `state`; register before causing it. */
function next(transport: Transport, state: BusState, ms = 5_000): Promise<StateChange> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${state}" within ${ms} ms`)), ms);
    transport.onState((change) => {
      if (change.state !== state) return;
      clearTimeout(timer);
      resolve(change);
    });
  });
}

async function started(t: ExecutionContext, overrides: Partial<TransportOptions> = {}): Promise<Transport> {
  const transport = amqpTransport(options(overrides));
  t.teardown(() => transport.close());
  const up = next(transport, "connected");
  transport.start();
  await up;
  return transport;
}

/** Collects deliveries, acknowledging them unless told otherwise. */
function inbox(settle: (delivery: Delivery, seen: Delivery[]) => void = (d) => d.ack()) {
  const seen: Delivery[] = [];
  return {
    seen,
    onDelivery(delivery: Delivery) {
      seen.push(delivery);
      settle(delivery, seen);
    },
    async wait(count: number, ms = 5_000): Promise<Delivery[]> {
      const deadline = Date.now() + ms;
      while (seen.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} deliveries, got ${seen.length}`);
        await sleep(10);
      }
      return seen;
    },
  };
}

const publishOptions = (route: string, confirm = false) => ({ route, headers: { "deploykit-type": "test.v1" }, confirm });

test("a published message reaches a broadcast subscriber with its body and headers", async (t) => {
  const transport = await started(t);
  const route = uniqueRoute();
  const box = inbox();
  await transport.subscribe({ route, prefetch: 10 }, box.onDelivery);
  await transport.publish(json(1), publishOptions(route));
  const [delivery] = await box.wait(1);
  t.is(delivery?.body, json(1));
  t.is(delivery?.headers["deploykit-type"], "test.v1");
  t.is(delivery?.headers["content-type"], "application/json");
  t.false(delivery?.redelivered);
});

test("every broadcast subscriber gets every message", async (t) => {
  const [a, b] = await Promise.all([started(t), started(t)]);
  const route = uniqueRoute();
  const [one, two, three] = [inbox(), inbox(), inbox()];
  await a.subscribe({ route, prefetch: 10 }, one.onDelivery);
  await a.subscribe({ route, prefetch: 10 }, two.onDelivery);
  await b.subscribe({ route, prefetch: 10 }, three.onDelivery);
  for (const n of [1, 2, 3]) await a.publish(json(n), publishOptions(route));
  for (const box of [one, two, three]) t.deepEqual((await box.wait(3)).map((d) => d.body), [json(1), json(2), json(3)]);
});

test("members of a group share its messages, each handled once", async (t) => {
  const [a, b, publisher] = await Promise.all([started(t), started(t), started(t)]);
  const route = uniqueRoute();
  const group = `g-${randomUUID()}`;
  const sub = { route, group, groupQueue: groupQueueName(route, group), prefetch: 1 };
  const boxA = inbox();
  const boxB = inbox();
  await a.subscribe(sub, boxA.onDelivery);
  await b.subscribe(sub, boxB.onDelivery);
  const sent = Array.from({ length: 20 }, (_, n) => json(n));
  for (const body of sent) await publisher.publish(body, publishOptions(route, true));
  const deadline = Date.now() + 5_000;
  while (boxA.seen.length + boxB.seen.length < sent.length && Date.now() < deadline) await sleep(10);
  await sleep(100); // room for a duplicate to show up
  const got = [...boxA.seen, ...boxB.seen].map((d) => d.body);
  t.deepEqual([...got].sort(), [...sent].sort());
  t.true(boxA.seen.length > 0 && boxB.seen.length > 0, `a got ${boxA.seen.length}, b got ${boxB.seen.length}`);
});

test("a group keeps messages while no member is connected", async (t) => {
  const route = uniqueRoute();
  const group = `g-${randomUUID()}`;
  const sub = { route, group, groupQueue: groupQueueName(route, group), prefetch: 5 };
  const first = await started(t);
  await first.subscribe(sub, inbox().onDelivery);
  await first.close();

  const publisher = await started(t);
  for (const n of [1, 2, 3]) await publisher.publish(json(n), publishOptions(route, true));

  const later = await started(t);
  const box = inbox();
  await later.subscribe(sub, box.onDelivery);
  t.deepEqual((await box.wait(3)).map((d) => d.body), [json(1), json(2), json(3)]);
});

test("a nacked message comes back marked redelivered", async (t) => {
  const transport = await started(t);
  const route = uniqueRoute();
  const box = inbox((delivery, seen) => (seen.length === 1 ? delivery.nack() : delivery.ack()));
  await transport.subscribe({ route, prefetch: 1 }, box.onDelivery);
  await transport.publish(json("again"), publishOptions(route));
  const [first, second] = await box.wait(2);
  t.false(first?.redelivered);
  t.true(second?.redelivered);
  t.is(second?.body, json("again"));
  // Settling twice must neither throw nor upset the broker.
  t.notThrows(() => second?.ack());
  await transport.publish(json("after"), publishOptions(route, true));
  t.is((await box.wait(3))[2]?.body, json("after"));
});

test("a confirmed publish resolves once the broker has it", async (t) => {
  const transport = await started(t);
  const route = uniqueRoute();
  const box = inbox();
  await transport.subscribe({ route, prefetch: 10 }, box.onDelivery);
  await t.notThrowsAsync(transport.publish(json("sure"), publishOptions(route, true)));
  // Unroutable is still confirmed: the broker took responsibility for it.
  await t.notThrowsAsync(transport.publish(json("nobody"), publishOptions(uniqueRoute(), true)));
  t.is((await box.wait(1))[0]?.body, json("sure"));
});

test("publishing without a connection throws TransportDisconnectedError at once", async (t) => {
  const transport = amqpTransport(options({ urls: [new URL("amqp://127.0.0.1:1/")] }));
  t.teardown(() => transport.close());
  const down = next(transport, "disconnected");
  transport.start();
  const change = await down;
  t.truthy(change.error);
  t.is(transport.state === "connected", false);
  await t.throwsAsync(transport.publish(json(1), publishOptions(uniqueRoute())), { instanceOf: TransportDisconnectedError });
  const closed = next(transport, "closed");
  await transport.close();
  await closed;
  t.is(transport.state, "closed");
  await t.notThrowsAsync(transport.close());
});

test("an unreachable broker is reported once, not on every retry", async (t) => {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const transport = amqpTransport(options({ urls: [new URL("amqp://127.0.0.1:1/")], log }));
  t.teardown(() => transport.close());
  let failures = 0;
  const retried = new Promise<void>((resolve) => transport.onState((c) => c.state === "disconnected" && ++failures === 4 && resolve()));
  transport.start();
  await retried;
  t.deepEqual(
    lines.filter((line) => line.level >= 40).map((line) => line.msg),
    ["cannot connect to the bus; retrying"],
  );
});

test("a broker that accepts but never answers times the attempt out", async (t) => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((socket) => void sockets.add(socket.on("error", () => {})));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const { port } = silent.address() as net.AddressInfo;
  const transport = amqpTransport(options({ urls: [new URL(`amqp://127.0.0.1:${port}/`)], connectTimeoutMs: 300 }));
  t.teardown(() => transport.close());
  const down = next(transport, "disconnected");
  const begun = Date.now();
  transport.start();
  const change = await down;
  t.true(Date.now() - begun >= 250, `gave up after ${Date.now() - begun} ms`);
  t.regex(change.error?.message ?? "", /ETIMEDOUT|within 300 ms/);
});

test("a subscription made while disconnected is set up when the connection comes", async (t) => {
  const transport = amqpTransport(options());
  t.teardown(() => transport.close());
  const route = uniqueRoute();
  const box = inbox();
  await transport.subscribe({ route, prefetch: 10 }, box.onDelivery);
  const up = next(transport, "connected");
  transport.start();
  await up;
  await transport.publish(json(1), publishOptions(route));
  t.is((await box.wait(1))[0]?.body, json(1));
});

test("unsubscribe stops deliveries and never throws", async (t) => {
  const transport = await started(t);
  const route = uniqueRoute();
  const box = inbox();
  const subscription = await transport.subscribe({ route, prefetch: 10 }, box.onDelivery);
  await transport.publish(json(1), publishOptions(route, true));
  await box.wait(1);
  await subscription.unsubscribe();
  await transport.publish(json(2), publishOptions(route, true));
  await sleep(200);
  t.is(box.seen.length, 1);
  await transport.close();
  await t.notThrowsAsync(subscription.unsubscribe());
});

test("a group queue declared with other arguments fails subscribe() without hurting the connection", async (t) => {
  const route = uniqueRoute();
  const group = `g-${randomUUID()}`;
  const queue = groupQueueName(route, group);
  const raw = await amqp.connect(broker.href);
  t.teardown(async () => {
    const channel = await raw.createChannel();
    await channel.deleteQueue(queue);
    await raw.close();
  });
  const channel = await raw.createChannel();
  await channel.assertQueue(queue, { durable: true, arguments: { "x-max-length": 5 } });
  await channel.close();

  const transport = await started(t);
  const error = await t.throwsAsync(transport.subscribe({ route, group, groupQueue: queue, prefetch: 1 }, () => {}));
  t.regex(error?.message ?? "", /exists with other arguments.*PRECONDITION/);
  t.is(transport.state, "connected");
  const box = inbox();
  await transport.subscribe({ route, prefetch: 1 }, box.onDelivery);
  await transport.publish(json("still fine"), publishOptions(route, true));
  t.is((await box.wait(1))[0]?.body, json("still fine"));
});

test("a group queue deleted under a member is re-created and consumed again", async (t) => {
  const transport = await started(t);
  const route = uniqueRoute();
  const group = `g-${randomUUID()}`;
  const queue = groupQueueName(route, group);
  const box = inbox();
  await transport.subscribe({ route, group, groupQueue: queue, prefetch: 1 }, box.onDelivery);
  const raw = await amqp.connect(broker.href);
  t.teardown(() => raw.close());
  const admin = await raw.createChannel();
  await admin.deleteQueue(queue);
  const deadline = Date.now() + 5_000;
  for (;;) {
    // A fresh channel each time: a failed passive declare closes the channel it ran on.
    const probe = await raw.createChannel();
    probe.on("error", () => {});
    const found = await probe.checkQueue(queue).then((q) => q.consumerCount, () => 0);
    await probe.close().catch(() => {});
    if (found > 0) break;
    if (Date.now() > deadline) throw new Error("the group queue was not re-created");
    await sleep(20);
  }
  await transport.publish(json("again"), publishOptions(route, true));
  t.is((await box.wait(1))[0]?.body, json("again"));
  t.is(transport.state, "connected");
});

/** Subscribes over RabbitMQ's STOMP plugin the way the STOMP transport declares a group queue; resolves with the reply frame's command. */
async function stompGroupSubscribe(t: ExecutionContext, route: string, queue: string, limits: TransportOptions): Promise<string> {
  const socket = net.connect(61613, "127.0.0.1");
  t.teardown(() => socket.destroy());
  let received = "";
  const replies: string[] = [];
  socket.on("data", (chunk) => {
    received += chunk.toString("utf8");
    const frames = received.split("\0");
    received = frames.pop() ?? "";
    for (const frame of frames) replies.push(frame.replace(/^\n+/, ""));
  });
  const send = (command: string, headers: Record<string, string>) =>
    socket.write(`${command}\n${Object.entries(headers).map(([k, v]) => `${k}:${v}\n`).join("")}\n\0`);
  send("CONNECT", { "accept-version": "1.2", host: "/", login: "guest", passcode: "guest" });
  send("SUBSCRIBE", {
    id: "1",
    destination: `/topic/${route}`,
    ack: "client-individual",
    "x-queue-name": queue,
    durable: "true",
    "auto-delete": "false",
    "x-max-length": String(limits.groupMaxLength),
    "x-expires": String(limits.groupExpiryMs),
    receipt: "subscribed",
  });
  const deadline = Date.now() + 5_000;
  for (;;) {
    const reply = replies.find((frame) => frame.startsWith("RECEIPT") || frame.startsWith("ERROR"));
    if (reply) return reply.split("\n")[0] ?? "";
    if (Date.now() > deadline) throw new Error(`no RECEIPT or ERROR from STOMP, got ${JSON.stringify(replies)}`);
    await sleep(10);
  }
}

test("STOMP and AMQP members of one group declare the same queue, whoever comes first", async (t) => {
  const transport = await started(t);
  for (const stompFirst of [true, false]) {
    const route = uniqueRoute();
    const group = `g-${randomUUID()}`;
    const queue = groupQueueName(route, group);
    const amqpMember = () => transport.subscribe({ route, group, groupQueue: queue, prefetch: 1 }, (d) => d.ack());
    if (stompFirst) {
      t.is(await stompGroupSubscribe(t, route, queue, options()), "RECEIPT");
      await t.notThrowsAsync(amqpMember());
    } else {
      await t.notThrowsAsync(amqpMember());
      t.is(await stompGroupSubscribe(t, route, queue, options()), "RECEIPT");
    }
  }
});

test("close() lets confirmed publishes in flight finish", async (t) => {
  const transport = await started(t);
  const route = uniqueRoute();
  const publishes = Array.from({ length: 50 }, (_, n) => transport.publish(json(n), publishOptions(route, true)));
  await transport.close();
  const outcomes = await Promise.allSettled(publishes);
  t.deepEqual(
    outcomes.filter((o) => o.status === "rejected"),
    [],
  );
});

test("after the link drops it reconnects and its subscriptions receive again", async (t) => {
  const proxy = await startTcpProxy("127.0.0.1", 5672);
  t.teardown(() => proxy.close());
  const transport = await started(t, { urls: [new URL(`amqp://127.0.0.1:${proxy.port}/`)] });
  const publisher = await started(t);
  const route = uniqueRoute();
  const box = inbox();
  await transport.subscribe({ route, prefetch: 10 }, box.onDelivery);
  const states: BusState[] = [];
  transport.onState((change) => states.push(change.state));

  const down = next(transport, "disconnected");
  const up = next(transport, "connected");
  proxy.cut();
  t.truthy((await down).error);
  await up;
  t.deepEqual(states.slice(0, 3), ["disconnected", "connecting", "connected"]);

  await publisher.publish(json("after"), publishOptions(route, true));
  t.is((await box.wait(1))[0]?.body, json("after"));
  await t.notThrowsAsync(transport.publish(json("own"), publishOptions(route, true)));
  t.is((await box.wait(2))[1]?.body, json("own"));
});

test("confirms outstanding when the link drops fail with TransportDisconnectedError", async (t) => {
  const proxy = await startTcpProxy("127.0.0.1", 5672);
  t.teardown(() => proxy.close());
  const transport = await started(t, { urls: [new URL(`amqp://127.0.0.1:${proxy.port}/`)] });
  const states: StateChange[] = [];
  transport.onState((change) => states.push(change));
  const pending = transport.publish(json("lost?"), publishOptions(uniqueRoute(), true));
  const up = next(transport, "connected");
  proxy.pause(300);
  await t.throwsAsync(pending, { instanceOf: TransportDisconnectedError });
  await up;
  // While paused the proxy refused attempts, so there were failed attempts before the reconnect.
  t.true(states.filter((c) => c.state === "disconnected").length >= 2);
  await t.notThrowsAsync(transport.publish(json("back"), publishOptions(uniqueRoute(), true)));
});
