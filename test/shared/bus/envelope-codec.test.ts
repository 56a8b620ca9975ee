import { randomUUID } from "node:crypto";
import test from "ava";
import { InvalidMessageError } from "../../../shared/bus/bus.ts";
import { decodeEnvelope, makeEnvelope } from "../../../shared/bus/envelope-codec.ts";
import { topicNames, topics } from "../../../shared/messages/index.ts";

const source = { component: "test", host: "h1" };

test("makeEnvelope wraps a valid body with type, id, time, source and correlation id", (t) => {
  const envelope = makeEnvelope("events", { text: "hi" }, source);
  t.is(envelope.type, "events.v1");
  t.regex(envelope.id, /^[0-9a-f-]{36}$/);
  t.is(envelope.correlationId, envelope.id, "a new chain starts at its first message");
  t.deepEqual(envelope.source, source);
  t.deepEqual(envelope.body, { text: "hi", level: "info" }, "defaults are applied");
  t.false(Number.isNaN(Date.parse(envelope.time)));
  const chained = makeEnvelope("events", { text: "next" }, source, envelope.id);
  t.is(chained.correlationId, envelope.id);
});

test("makeEnvelope refuses an invalid body and names the field", (t) => {
  const error = t.throws(() => makeEnvelope("builds", { job: "shop", phase: "exploded" }, source), { instanceOf: InvalidMessageError });
  t.regex(error?.message ?? "", /invalid builds\.v1 body: phase/);
  t.throws(() => makeEnvelope("no.such.topic", {}, source), { message: /unknown topic/ });
  t.throws(() => makeEnvelope("git.commits", { ...gitPush(), ref: "--upload-pack=x" }, source), { message: /ref/ });
});

test("makeEnvelope refuses a correlation id that receivers would dead-letter", (t) => {
  t.throws(() => makeEnvelope("events", { text: "hi" }, source, "bogus"), { instanceOf: InvalidMessageError, message: /invalid correlationId "bogus": must be a UUID/ });
});

test("decodeEnvelope round-trips what makeEnvelope made, for a keepalive sub-topic too", (t) => {
  const envelope = makeEnvelope("keepalive.dmz", { host: "h1", interval: 30000, seq: 1 }, source);
  const decoded = decodeEnvelope("keepalive.dmz", JSON.stringify(envelope));
  t.true(decoded.ok);
  if (decoded.ok) t.deepEqual(decoded.envelope, envelope);
});

test("decodeEnvelope says exactly what is wrong", (t) => {
  const base = { id: randomUUID(), time: new Date().toISOString(), source, correlationId: randomUUID() };
  const cases: [string, RegExp][] = [
    ["{", /body is not JSON/],
    ["[]", /invalid envelope/],
    [JSON.stringify({ ...base, type: "events.v1", id: "nope", body: { text: "x" } }), /invalid envelope: id/],
    [JSON.stringify({ ...base, type: "builds.v1", body: {} }), /type "builds.v1" does not belong on topic "events"/],
    [JSON.stringify({ ...base, type: "events.v1", body: { text: "" } }), /invalid events\.v1 body: text/],
  ];
  for (const [raw, reason] of cases) {
    const decoded = decodeEnvelope("events", raw);
    t.false(decoded.ok, raw);
    if (!decoded.ok) t.regex(decoded.reason, reason);
  }
});

test("every topic carries one versioned type named after it", (t) => {
  for (const topic of topicNames()) t.is(topics[topic].type, `${topic}.v1`);
});

function gitPush() {
  return {
    repo: { name: "shop", urls: [] },
    ref: "refs/heads/main",
    before: "0".repeat(40),
    after: "a".repeat(40),
    created: true,
    deleted: false,
    forced: false,
    commits: [],
    pusher: { name: "ada" },
    provider: "github",
  };
}
