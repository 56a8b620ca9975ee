import { performance } from "node:perf_hooks";

/** What one check is asked to look at: every request since the last check, merged. */
export interface CheckBatch {
  /** Package names from packages.updates messages → the correlationId of the first message naming each. */
  packages: Map<string, string>;
  /** The correlationId of the batch's first message, if a message asked for the check. */
  correlationId?: string;
  /** Why: "message", "periodic", or both. */
  reasons: Set<"message" | "periodic">;
}

export interface CheckSchedulerOptions {
  /** Wait this long after the first request for more before running. */
  coalesceMs: number;
  /** Least time between the starts of two runs (each run is one apt-get update). */
  minIntervalMs: number;
  run(batch: CheckBatch): Promise<void>;
  /** Told when run rejects; the scheduler goes on. */
  onError(err: unknown): void;
}

/**
 * One check at a time. Requests that arrive while a check waits join it;
 * those that arrive while one runs make the next. A check never starts sooner
 * than minIntervalMs after the previous one started: a request is delayed by
 * the rate limit, never dropped.
 */
export class CheckScheduler {
  readonly #options: CheckSchedulerOptions;
  #pending: CheckBatch | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #lastStart = Number.NEGATIVE_INFINITY;
  #stopped = false;

  constructor(options: CheckSchedulerOptions) {
    this.#options = options;
  }

  /** Asks for a check because of a message naming a package (already validated and matched). */
  requestForMessage(packageName: string, correlationId: string): void {
    const batch = this.#batch();
    if (!batch) return;
    if (!batch.packages.has(packageName)) batch.packages.set(packageName, correlationId);
    batch.correlationId ??= correlationId;
    batch.reasons.add("message");
    this.#wake();
  }

  /** Asks for a check of everything watched, not caused by any message. */
  requestPeriodic(): void {
    const batch = this.#batch();
    if (!batch) return;
    batch.reasons.add("periodic");
    this.#wake();
  }

  /** Drops what waits and resolves once the check in progress (if any) ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending = undefined;
    await this.#running;
  }

  #batch(): CheckBatch | undefined {
    if (this.#stopped) return undefined;
    this.#pending ??= { packages: new Map(), reasons: new Set() };
    return this.#pending;
  }

  #wake(): void {
    if (this.#timer || this.#running) return;
    const now = performance.now();
    const at = Math.max(now + this.#options.coalesceMs, this.#lastStart + this.#options.minIntervalMs);
    this.#timer = setTimeout(() => this.#fire(), Math.ceil(at - now));
  }

  #fire(): void {
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = undefined;
    if (!batch || this.#stopped) return;
    this.#lastStart = performance.now();
    this.#running = this.#options
      .run(batch)
      .catch((err: unknown) => this.#options.onError(err))
      .finally(() => {
        this.#running = undefined;
        if (this.#pending) this.#wake();
      });
  }
}
