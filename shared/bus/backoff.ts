export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

/**
 * Exponential backoff with full jitter: a fleet of daemons that lost the same
 * broker must not come back in lock-step.
 */
export function backoff(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(options.initialMs / 2 + random() * Math.max(0, ceiling - options.initialMs / 2));
}
