import test from "ava";
import { backoff } from "../../../shared/bus/backoff.ts";

const options = { initialMs: 100, maxMs: 5000 };

test("backoff grows exponentially up to the cap", (t) => {
  const ceiling = (attempt: number) => backoff(attempt, options, () => 1);
  t.is(ceiling(0), 100);
  t.is(ceiling(1), 200);
  t.is(ceiling(3), 800);
  t.is(ceiling(10), 5000);
  t.is(ceiling(1000), 5000, "no overflow on very long outages");
});

test("backoff jitters so a fleet does not reconnect in lock-step", (t) => {
  const floor = backoff(5, options, () => 0);
  t.is(floor, 50);
  const samples = new Set(Array.from({ length: 50 }, () => backoff(5, options)));
  t.true(samples.size > 10);
  for (const sample of samples) t.true(sample >= 50 && sample <= 3200);
});
