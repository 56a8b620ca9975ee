import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import test from "ava";
import { type CheckBatch, CheckScheduler } from "../../../daemons/package-watcher/check-scheduler.ts";
import { waitFor } from "../../helpers/test-bus.ts";

function recorder(runMs = 0) {
  const runs: { batch: CheckBatch; at: number }[] = [];
  const errors: unknown[] = [];
  return {
    runs,
    errors,
    run: async (batch: CheckBatch) => {
      runs.push({ batch, at: performance.now() });
      if (runMs > 0) await new Promise((resolve) => setTimeout(resolve, runMs));
    },
    onError: (err: unknown) => void errors.push(err),
  };
}

test("a burst of requests within the coalescing window makes one run with every package, each with its first correlationId", async (t) => {
  const r = recorder();
  const scheduler = new CheckScheduler({ coalesceMs: 300, minIntervalMs: 0, run: r.run, onError: r.onError });
  t.teardown(() => scheduler.stop());
  const ids = Array.from({ length: 10 }, () => randomUUID());
  const started = performance.now();
  for (const [i, id] of ids.entries()) scheduler.requestForMessage(i % 2 === 0 ? "shop-web" : `shop-api${i}`, id);
  await waitFor(() => r.runs.length === 1, 3000, "the run");
  await new Promise((resolve) => setTimeout(resolve, 400));
  t.is(r.runs.length, 1, "one run for the whole burst");
  const [{ batch, at }] = r.runs as [{ batch: CheckBatch; at: number }];
  t.true(at - started >= 290, `waited for more: ${Math.round(at - started)} ms`);
  t.is(batch.correlationId, ids[0]);
  t.is(batch.packages.get("shop-web"), ids[0], "the first message naming a package gives its correlationId");
  t.is(batch.packages.get("shop-api3"), ids[3]);
  t.is(batch.packages.size, 6);
  t.deepEqual([...batch.reasons], ["message"]);
});

test("a request during a run makes a second run, no sooner than the minimum interval after the first started", async (t) => {
  const r = recorder(100);
  const scheduler = new CheckScheduler({ coalesceMs: 50, minIntervalMs: 800, run: r.run, onError: r.onError });
  t.teardown(() => scheduler.stop());
  scheduler.requestForMessage("shop-web", randomUUID());
  await waitFor(() => r.runs.length === 1, 3000, "the first run");
  scheduler.requestForMessage("shop-web", randomUUID());
  scheduler.requestPeriodic();
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(r.runs.length, 1, "the rate limit holds the second run back");
  await waitFor(() => r.runs.length === 2, 3000, "the second run");
  const [first, second] = r.runs as [{ at: number }, { batch: CheckBatch; at: number }];
  t.true(second.at - first.at >= 790, `interval ${Math.round(second.at - first.at)} ms`);
  t.deepEqual([...second.batch.reasons].sort(), ["message", "periodic"]);
});

test("a periodic request carries no correlationId; a failing run is reported and the scheduler goes on", async (t) => {
  let calls = 0;
  const errors: unknown[] = [];
  const batches: CheckBatch[] = [];
  const scheduler = new CheckScheduler({
    coalesceMs: 20,
    minIntervalMs: 0,
    run: async (batch) => {
      batches.push(batch);
      calls++;
      if (calls === 1) throw new Error("apt is broken");
    },
    onError: (err) => void errors.push(err),
  });
  t.teardown(() => scheduler.stop());
  scheduler.requestPeriodic();
  await waitFor(() => errors.length === 1, 3000, "the error");
  t.is((errors[0] as Error).message, "apt is broken");
  t.is(batches[0]?.correlationId, undefined);
  scheduler.requestPeriodic();
  await waitFor(() => calls === 2, 3000, "the next run");
  t.is(errors.length, 1);
});

test("stop drops what waits and waits for the run in progress", async (t) => {
  const r = recorder(300);
  const scheduler = new CheckScheduler({ coalesceMs: 10, minIntervalMs: 0, run: r.run, onError: r.onError });
  scheduler.requestPeriodic();
  await waitFor(() => r.runs.length === 1, 3000, "the run");
  scheduler.requestPeriodic();
  const before = performance.now();
  await scheduler.stop();
  t.true(performance.now() - before >= 200, "stop waited for the run");
  scheduler.requestPeriodic();
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(r.runs.length, 1, "nothing ran after stop");
});
