import { setTimeout as sleep } from "node:timers/promises";
import { backoff } from "../../shared/bus/backoff.ts";
import { JenkinsError } from "./jenkins-client.ts";

export interface RetryPolicy {
  attempts: number;
  initialMs: number;
  maxMs: number;
  /** No retry starts later than this after the first try. */
  giveUpAfterMs: number;
}

/** A trigger that failed every try it was allowed. */
export class GaveUpError extends Error {
  readonly attempts: number;
  readonly last: JenkinsError;
  constructor(last: JenkinsError, attempts: number, elapsedMs: number) {
    super(`gave up after ${attempts} ${attempts === 1 ? "try" : "tries"} in ${Math.round(elapsedMs / 1000)} s: ${last.message}`);
    this.name = "GaveUpError";
    this.attempts = attempts;
    this.last = last;
  }
}

/**
 * Runs `attempt` until it succeeds, fails for a reason retrying cannot fix
 * (thrown as is), or runs out of tries or time (GaveUpError). Bounded in both,
 * so a handler always finishes well within the bus's handler timeout.
 */
export async function retryTrigger<T>(
  attempt: () => Promise<T>,
  policy: RetryPolicy,
  signal: AbortSignal,
  onRetry: (err: JenkinsError, attempt: number, delayMs: number) => void,
): Promise<T> {
  const started = Date.now();
  const attempts = Math.max(1, policy.attempts);
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof JenkinsError) || !err.retryable) throw err;
      const delayMs = backoff(tries - 1, { initialMs: policy.initialMs, maxMs: policy.maxMs });
      if (tries >= attempts || Date.now() + delayMs - started > policy.giveUpAfterMs) throw new GaveUpError(err, tries, Date.now() - started);
      onRetry(err, tries, delayMs);
      await sleep(delayMs, undefined, { signal });
    }
  }
}
