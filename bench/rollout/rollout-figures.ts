// What one rollout through the agents cost, from per-host timings (the
// conductor's ledger, or what the bench itself saw on the bus): the wall
// time against the work in the hosts' steps spread perfectly over the batch
// size. The difference is the rollout's overhead: the time the agents were
// not running steps while the rollout was on (waiting for the slowest host
// of a batch, the gaps between batches, requests and answers on the bus).

export interface HostTiming {
  host: string;
  batch: number;
  /** Epoch ms: the request for its batch went out, and its answer arrived. */
  requestedAt: number;
  finishedAt: number;
  /** The agent's own measure of its whole run (deploy.results durationMs). */
  durationMs: number;
  /** Each step's duration on this host. */
  steps: Record<string, number>;
  /** Epoch ms, by the agent's clock (the progress messages' times): its first step started, its last step ended. */
  firstStepAt?: number;
  lastStepAt?: number;
}

export interface BatchFigures {
  batch: number;
  hosts: number;
  /** First request of the batch → last answer of the batch. */
  wallMs: number;
  slowestHostMs: number;
}

export interface RolloutFigures {
  wallMs: number;
  hosts: number;
  parallelism: number;
  /** Sum over hosts of the time spent in steps. */
  stepSumMs: number;
  /** stepSumMs / parallelism: the wall time with no overhead at all. */
  idealMs: number;
  overheadMs: number;
  /** Sum over hosts of the agents' whole runs (steps + what the agent does around them). */
  runSumMs: number;
  /** Per step, the sum over hosts. */
  perStep: Record<string, number>;
  batches: BatchFigures[];
  /** Last answer of a batch → first request of the next, summed. */
  betweenBatchesMs: number;
  /** Means over hosts: request sent → first step started; last step ended → answer in; between the first and last step, outside any step. */
  meanToFirstStepMs: number;
  meanAfterLastStepMs: number;
  meanBetweenStepsMs: number;
}

export function rolloutFigures(wallMs: number, hosts: readonly HostTiming[], parallelism: number): RolloutFigures {
  const perStep: Record<string, number> = {};
  let stepSumMs = 0;
  let runSumMs = 0;
  const toFirst: number[] = [];
  const afterLast: number[] = [];
  const between: number[] = [];
  for (const host of hosts) {
    for (const [step, ms] of Object.entries(host.steps)) {
      perStep[step] = (perStep[step] ?? 0) + ms;
      stepSumMs += ms;
    }
    runSumMs += host.durationMs;
    if (host.firstStepAt !== undefined && host.lastStepAt !== undefined) {
      toFirst.push(host.firstStepAt - host.requestedAt);
      afterLast.push(host.finishedAt - host.lastStepAt);
      between.push(host.lastStepAt - host.firstStepAt - Object.values(host.steps).reduce((sum, ms) => sum + ms, 0));
    }
  }
  const mean = (values: number[]) => (values.length === 0 ? Number.NaN : values.reduce((sum, v) => sum + v, 0) / values.length);
  const byBatch = new Map<number, HostTiming[]>();
  for (const host of hosts) byBatch.set(host.batch, [...(byBatch.get(host.batch) ?? []), host]);
  const batches = [...byBatch.entries()]
    .sort(([a], [b]) => a - b)
    .map(([batch, members]) => ({
      batch,
      hosts: members.length,
      first: Math.min(...members.map((host) => host.requestedAt)),
      last: Math.max(...members.map((host) => host.finishedAt)),
      slowestHostMs: Math.max(...members.map((host) => host.durationMs)),
    }));
  let betweenBatchesMs = 0;
  for (let i = 1; i < batches.length; i++) betweenBatchesMs += (batches[i]?.first ?? 0) - (batches[i - 1]?.last ?? 0);
  const idealMs = stepSumMs / parallelism;
  return {
    wallMs,
    hosts: hosts.length,
    parallelism,
    stepSumMs,
    idealMs,
    overheadMs: wallMs - idealMs,
    runSumMs,
    perStep,
    batches: batches.map(({ batch, hosts: count, first, last, slowestHostMs }) => ({ batch, hosts: count, wallMs: last - first, slowestHostMs })),
    betweenBatchesMs,
    meanToFirstStepMs: mean(toFirst),
    meanAfterLastStepMs: mean(afterLast),
    meanBetweenStepsMs: mean(between),
  };
}
