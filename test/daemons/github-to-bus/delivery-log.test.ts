import test from "ava";
import { DeliveryLog } from "../../../daemons/github-to-bus/delivery-log.ts";

function clock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

test("a published delivery is a duplicate until its time is up", async (t) => {
  const time = clock();
  const log = new DeliveryLog({ maxEntries: 10, ttlMs: 1000, now: time.now });
  let calls = 0;
  const publish = async () => `msg-${++calls}`;
  t.deepEqual(await log.once("a", publish), { duplicate: false, id: "msg-1" });
  time.advance(999);
  t.deepEqual(await log.once("a", publish), { duplicate: true, id: "msg-1" });
  time.advance(1);
  t.deepEqual(await log.once("a", publish), { duplicate: false, id: "msg-2" }, "forgotten after ttl");
  t.is(calls, 2);
});

test("a failed publish is not remembered, so the next copy publishes", async (t) => {
  const log = new DeliveryLog({ maxEntries: 10, ttlMs: 60_000 });
  await t.throwsAsync(
    log.once("a", async () => {
      throw new Error("bus down");
    }),
    { message: "bus down" },
  );
  t.is(log.lookup("a"), undefined);
  t.deepEqual(await log.once("a", async () => "msg-1"), { duplicate: false, id: "msg-1" });
});

test("the log keeps at most maxEntries, dropping the oldest", async (t) => {
  const log = new DeliveryLog({ maxEntries: 3, ttlMs: 60_000 });
  for (const key of ["a", "b", "c", "d"]) await log.once(key, async () => `id-${key}`);
  t.is(log.size, 3);
  t.is(log.lookup("a"), undefined);
  t.is(log.lookup("b"), "id-b");
  t.is(log.lookup("d"), "id-d");
});

test("expired entries are swept when new ones arrive, not only when looked up", async (t) => {
  const time = clock();
  const log = new DeliveryLog({ maxEntries: 100, ttlMs: 1000, now: time.now });
  for (const key of ["a", "b", "c"]) await log.once(key, async () => key);
  time.advance(1500);
  await log.once("d", async () => "d");
  t.is(log.size, 1);
});

test("a copy that arrives while the first is publishing waits for it; if the first fails it publishes itself", async (t) => {
  const log = new DeliveryLog({ maxEntries: 10, ttlMs: 60_000 });
  let release!: (id: string) => void;
  const first = log.once("a", () => new Promise<string>((resolve) => (release = resolve)));
  let secondCalled = false;
  const second = log.once("a", async () => {
    secondCalled = true;
    return "second";
  });
  release("first");
  t.deepEqual(await first, { duplicate: false, id: "first" });
  t.deepEqual(await second, { duplicate: true, id: "first" });
  t.false(secondCalled);

  let fail!: (err: Error) => void;
  const failing = log.once("b", () => new Promise<string>((_resolve, reject) => (fail = reject)));
  const retry = log.once("b", async () => "retry");
  fail(new Error("no broker"));
  await t.throwsAsync(failing);
  t.deepEqual(await retry, { duplicate: false, id: "retry" });
});
