import { join } from "node:path";
import test from "ava";
import { makeEnvelope } from "../../../shared/bus/envelope-codec.ts";
import type { Envelope } from "../../../shared/messages/index.ts";
import { flushSpool } from "../../../shared/spool/flush-spool.ts";
import { publishOrSpool } from "../../../shared/spool/publish-or-spool.ts";
import { SpoolDir } from "../../../shared/spool/spool-dir.ts";
import { tempDir } from "../../hooks/hook-fixture.ts";
import { testBus, uniquePrefix, waitFor } from "../../helpers/test-bus.ts";

const source = { component: "spooler", host: "h1" };
const limits = { maxFiles: 100, maxBytes: 1_000_000 };
const outgoing = (text: string) => ({ topic: "events" as const, envelope: makeEnvelope("events", { text }, source) });

test("a dead bus costs one timeout: every message is spooled in order, none lost", async (t) => {
  const spool = new SpoolDir(tempDir("dk-pos-"), limits);
  const bus = testBus("stomp://127.0.0.1:1", "dk", { reconnect: { initialMs: 50, maxMs: 100 } });
  t.teardown(() => bus.close({ graceMs: 0 }));
  const messages = ["a", "b", "c"].map(outgoing);
  const started = Date.now();
  const result = await publishOrSpool(bus, messages, { timeoutMs: 400, spool });
  t.true(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  t.deepEqual(result.published, []);
  t.deepEqual(result.spooled.map((s) => s.envelope.id), messages.map((m) => m.envelope.id));
  t.regex(result.busError?.message ?? "", /no connection/);
  t.deepEqual(spool.list().map((e) => e.path), result.spooled.map((s) => s.path), "oldest first on disk too");
});

test("without a spool, what cannot be published is reported failed", async (t) => {
  const bus = testBus("stomp://127.0.0.1:1", "dk");
  t.teardown(() => bus.close({ graceMs: 0 }));
  const result = await publishOrSpool(bus, [outgoing("a")], { timeoutMs: 200 });
  t.is(result.failed.length, 1);
  t.regex(result.failed[0]?.error.message ?? "", /no connection/);
});

test("on a live bus the spool goes first, each message under its original id, time, source and correlation id", async (t) => {
  const url = `memory://${uniquePrefix()}`;
  const bus = testBus(url, "dk");
  const watcher = testBus(url, "dk");
  t.teardown(async () => {
    await bus.close();
    await watcher.close();
  });
  const got: Envelope<{ text: string }>[] = [];
  await watcher.subscribe("events", (m) => void got.push(m));
  const spool = new SpoolDir(join(tempDir("dk-pos-"), "spool"), limits);
  const old = { topic: "events" as const, envelope: makeEnvelope("events", { text: "old" }, { component: "git-hook", host: "git-1" }, "5f0f7a36-5f3c-4a53-8f0e-0f1b2b7cc001") };
  spool.write(old);
  const fresh = outgoing("new");
  const result = await publishOrSpool(bus, [fresh], { timeoutMs: 2000, spool });
  t.is(result.flush?.delivered, 1);
  t.deepEqual(result.published.map((e) => e.id), [fresh.envelope.id]);
  await waitFor(() => got.length === 2, 2000, "both messages");
  t.deepEqual(got[0], old.envelope, "the spooled envelope arrives exactly as it was built");
  t.deepEqual(got[1], fresh.envelope);
  t.deepEqual(spool.list(), []);
});

test("a flush stops at the first failure and leaves the rest; a busy spool is not flushed twice", async (t) => {
  const spool = new SpoolDir(tempDir("dk-pos-"), limits);
  for (const text of ["a", "b"]) spool.write(outgoing(text));
  const dead = testBus("stomp://127.0.0.1:1", "dk");
  t.teardown(() => dead.close({ graceMs: 0 }));
  const failed = await flushSpool(dead, spool, { timeoutMs: 200 });
  t.is(failed.delivered, 0);
  t.is(failed.remaining, 2);
  t.truthy(failed.error);
  t.is(spool.list().length, 2);

  const release = spool.lock();
  const live = testBus(`memory://${uniquePrefix()}`, "dk");
  t.teardown(() => live.close());
  const busy = await flushSpool(live, spool, { timeoutMs: 1000 });
  t.true(busy.busy);
  t.is(busy.delivered, 0);
  release?.();
  const done = await flushSpool(live, spool, { timeoutMs: 1000 });
  t.is(done.delivered, 2);
});
