import type { CountOrPercent, RolloutConfig } from "./app-catalog.ts";

/**
 * Splits a rollout's hosts (sorted by the caller, so a plan is reproducible)
 * into batches: the canary batch first when canary > 0, then batches of the
 * configured size. A percent is of all the hosts the rollout expects, canary
 * included, rounded up and at least one host, so "25%" of 10 hosts is 3.
 */
export function planBatches(hosts: readonly string[], rollout: RolloutConfig): string[][] {
  const batches: string[][] = [];
  const canary = Math.min(rollout.canary, hosts.length);
  if (canary > 0) batches.push(hosts.slice(0, canary));
  const size = batchSize(rollout.batch, hosts.length);
  for (let start = canary; start < hosts.length; start += size) batches.push(hosts.slice(start, start + size));
  return batches;
}

function batchSize(batch: CountOrPercent, total: number): number {
  if ("count" in batch) return Math.max(1, batch.count);
  return Math.max(1, Math.ceil((batch.percent * total) / 100));
}

/**
 * How many hosts may fail before the rollout stops. A percent rounds down:
 * "10%" of 5 hosts allows none, since a budget that rounds up would let a
 * small environment fail further than its operator asked for.
 */
export function failureBudgetCount(rollout: RolloutConfig, total: number): number {
  const budget = rollout.failureBudget;
  if ("count" in budget) return budget.count;
  return Math.floor((budget.percent * total) / 100);
}
