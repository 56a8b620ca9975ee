import test from "ava";
import type { RolloutConfig } from "../../../daemons/conductor/app-catalog.ts";
import { failureBudgetCount, planBatches } from "../../../daemons/conductor/plan-batches.ts";

const hosts = (count: number) => Array.from({ length: count }, (_, index) => `web-${String(index + 1).padStart(2, "0")}`);

function rollout(overrides: Partial<RolloutConfig> = {}): RolloutConfig {
  return { canary: 1, batch: { percent: 100 }, pause: 0, failureBudget: { count: 0 }, ...overrides };
}

test("defaults: one canary host, then everyone else in one batch", (t) => {
  t.deepEqual(planBatches(hosts(4), rollout()), [["web-01"], ["web-02", "web-03", "web-04"]]);
});

test("no hosts: no batches, not even a canary one", (t) => {
  t.deepEqual(planBatches([], rollout()), []);
  t.deepEqual(planBatches([], rollout({ canary: 3, batch: { count: 2 } })), []);
});

test("one host: it is the canary batch, and there is nothing after it", (t) => {
  t.deepEqual(planBatches(["web-01"], rollout()), [["web-01"]]);
  t.deepEqual(planBatches(["web-01"], rollout({ canary: 0 })), [["web-01"]]);
});

test("a canary larger than the fleet takes every host, once", (t) => {
  t.deepEqual(planBatches(hosts(3), rollout({ canary: 5, batch: { count: 1 } })), [["web-01", "web-02", "web-03"]]);
});

test("canary 0: batches start at the first host", (t) => {
  t.deepEqual(planBatches(hosts(5), rollout({ canary: 0, batch: { count: 2 } })), [["web-01", "web-02"], ["web-03", "web-04"], ["web-05"]]);
});

test("a count: batches of that size after the canary, the last one shorter", (t) => {
  t.deepEqual(planBatches(hosts(6), rollout({ canary: 1, batch: { count: 2 } })), [["web-01"], ["web-02", "web-03"], ["web-04", "web-05"], ["web-06"]]);
});

test("a percent is of all expected hosts, canary included, rounded up", (t) => {
  // 25% of 10 is 2.5: batches of 3 after the canary (9 hosts left).
  const plan = planBatches(hosts(10), rollout({ canary: 1, batch: { percent: 25 } }));
  t.deepEqual(
    plan.map((batch) => batch.length),
    [1, 3, 3, 3],
  );
  t.deepEqual(plan.flat(), hosts(10), "every host once, in the given order");
  // 50% of 4 is exactly 2.
  t.deepEqual(
    planBatches(hosts(4), rollout({ canary: 0, batch: { percent: 50 } })).map((batch) => batch.length),
    [2, 2],
  );
  // 1% of 3 hosts still moves one host at a time.
  t.deepEqual(
    planBatches(hosts(3), rollout({ canary: 0, batch: { percent: 1 } })).map((batch) => batch.length),
    [1, 1, 1],
  );
});

test("the failure budget: a count as given, a percent of all hosts rounded down", (t) => {
  t.is(failureBudgetCount(rollout(), 10), 0);
  t.is(failureBudgetCount(rollout({ failureBudget: { count: 2 } }), 10), 2);
  t.is(failureBudgetCount(rollout({ failureBudget: { percent: 10 } }), 10), 1);
  t.is(failureBudgetCount(rollout({ failureBudget: { percent: 10 } }), 5), 0, "10% of 5 hosts allows none, not one");
  t.is(failureBudgetCount(rollout({ failureBudget: { percent: 25 } }), 9), 2);
  t.is(failureBudgetCount(rollout({ failureBudget: { percent: 100 } }), 7), 7);
  t.is(failureBudgetCount(rollout({ failureBudget: { percent: 50 } }), 0), 0);
});
