import test from "ava";
import type { Bus, Handler, SubscribeOptions } from "../../../shared/bus/bus.ts";
import type { Envelope } from "../../../shared/messages/index.ts";
import { keepalive } from "../../../daemons/keepalive/index.ts";
import { captureLog } from "../../helpers/capture-log.ts";
import { startTestBroker } from "../../helpers/embedded-broker.ts";
import { testBus, uniquePrefix, waitFor } from "../../helpers/test-bus.ts";

type Keepalive = Envelope<{ host: string; interval: number; seq: number }>;

function start(bus: Bus, config: { interval: number; topics: string[]; slowRoundTrip: number }, log = captureLog().log) {
  return keepalive.start({ config, bus, log, host: "web-1", signal: new AbortController().signal, announce: () => {} });
}

test("publishes numbered keepalives to every configured topic at the interval", async (t) => {
  const url = `memory://${uniquePrefix()}`;
  const bus = testBus(url, "dk");
  const watcher = testBus(url, "dk");
  t.teardown(() => Promise.all([bus.close(), watcher.close()]).then(() => {}));
  const seen: { topic: string; message: Keepalive }[] = [];
  for (const topic of ["keepalive", "keepalive.dmz"] as const) await watcher.subscribe(topic, (message) => void seen.push({ topic, message }));
  const stop = await start(bus, { interval: 100, topics: ["keepalive", "keepalive.dmz"], slowRoundTrip: 5000 });
  await waitFor(() => seen.filter((s) => s.topic === "keepalive.dmz").length >= 3, 3000, "three beats on keepalive.dmz");
  await stop();
  const main = seen.filter((s) => s.topic === "keepalive").map((s) => s.message);
  t.true(main.length >= 3);
  t.deepEqual(
    main.slice(0, 3).map((m) => m.body.seq),
    [1, 2, 3],
  );
  t.is(main[0]?.body.host, "web-1");
  t.is(main[0]?.body.interval, 100);
  const count = seen.length;
  await new Promise((resolve) => setTimeout(resolve, 250));
  t.is(seen.length, count, "nothing is published after stop");
});

test("warns when its own keepalive comes back slower than the bound", async (t) => {
  const bus = testBus(`memory://${uniquePrefix()}`, "dk");
  t.teardown(() => bus.close());
  const { log, lines } = captureLog();
  const stop = await start(bus, { interval: 100, topics: ["keepalive"], slowRoundTrip: 0 }, log);
  await waitFor(() => lines.some((l) => l.msg === "slow keepalive round trip: the path to the broker is slow"), 3000, "the warning");
  await stop();
  const warning = lines.find((l) => String(l.msg).startsWith("slow keepalive"));
  t.is(warning?.level, 40);
  t.is(warning?.topic, "keepalive");
  t.is(typeof warning?.roundTripMs, "number");
});

test("warns when a keepalive never comes back", async (t) => {
  const real = testBus(`memory://${uniquePrefix()}`, "dk");
  t.teardown(() => real.close());
  // A path that swallows what it carries: the subscription never sees the keepalives.
  const lossy: Bus = Object.assign(Object.create(real) as Bus, {
    subscribe: <T>(_topic: string, _handler: Handler<T>, _options?: SubscribeOptions) => Promise.resolve({ unsubscribe: async () => {} }),
    publish: real.publish.bind(real),
  });
  const { log, lines } = captureLog();
  const stop = await start(lossy, { interval: 100, topics: ["keepalive"], slowRoundTrip: 5000 }, log);
  await waitFor(() => lines.some((l) => l.msg === "keepalive did not come back from the broker"), 3000, "the warning");
  await stop();
  t.pass();
});

test("refuses to start with a topic that does not carry keepalives", async (t) => {
  const bus = testBus(`memory://${uniquePrefix()}`, "dk");
  t.teardown(() => bus.close());
  await t.throwsAsync(start(bus, { interval: 100, topics: ["keepalive", "git.commits"], slowRoundTrip: 5000 }), {
    message: /keepalive\.topics: "git\.commits" is not a keepalive topic/,
  });
});

test("times the round trip even when the broker delivers its keepalive before the publish is confirmed", async (t) => {
  // The embedded broker routes a SEND before it writes the RECEIPT, so the
  // keepalive comes back before publish() resolves with its id.
  const broker = await startTestBroker();
  const bus = testBus(broker.url, uniquePrefix());
  t.teardown(async () => {
    await bus.close({ graceMs: 0 });
    await broker.close();
  });
  await bus.connected(10_000);
  const { log, lines } = captureLog();
  const stop = await start(bus, { interval: 200, topics: ["keepalive"], slowRoundTrip: 5000 }, log);
  await waitFor(() => lines.filter((l) => l.msg === "keepalive round trip").length >= 3, 10_000, "three timed round trips");
  await stop();
  t.false(
    lines.some((l) => l.msg === "keepalive did not come back from the broker"),
    "no keepalive was reported lost",
  );
  t.true(lines.filter((l) => l.msg === "keepalive round trip").every((l) => typeof l.roundTripMs === "number" && l.roundTripMs < 5000));
});
