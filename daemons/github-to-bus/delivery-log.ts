export interface Outcome {
  /** True when the delivery had been published before and was not published again. */
  duplicate: boolean;
  /** The id of the message the delivery was published as. */
  id: string;
}

/**
 * The deliveries already published, by the sender's delivery id, so a
 * redelivery is answered without publishing twice. Bounded by count and age;
 * a delivery is remembered only once its message is on the broker, so one
 * answered 503 is published when the sender tries again.
 */
export class DeliveryLog {
  private readonly published = new Map<string, { id: string; at: number }>();
  private readonly inFlight = new Map<string, Promise<string>>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: { maxEntries: number; ttlMs: number; now?: () => number }) {
    this.maxEntries = options.maxEntries;
    this.ttlMs = options.ttlMs;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.published.size;
  }

  /** The message id a delivery was published as, while it is remembered. */
  lookup(key: string): string | undefined {
    const entry = this.published.get(key);
    if (entry === undefined) return undefined;
    if (this.now() - entry.at < this.ttlMs) return entry.id;
    this.published.delete(key);
    return undefined;
  }

  /**
   * Publishes a delivery unless it was published already. A copy that arrives
   * while the first is still publishing waits for it rather than publishing too.
   */
  async once(key: string, publish: () => Promise<string>): Promise<Outcome> {
    for (;;) {
      const id = this.lookup(key);
      if (id !== undefined) return { duplicate: true, id };
      const pending = this.inFlight.get(key);
      if (pending === undefined) break;
      // A failed first attempt leaves the copy to try for itself.
      await pending.catch(() => undefined);
    }
    const attempt = publish();
    this.inFlight.set(key, attempt);
    try {
      const id = await attempt;
      this.remember(key, id);
      return { duplicate: false, id };
    } finally {
      this.inFlight.delete(key);
    }
  }

  private remember(key: string, id: string): void {
    const now = this.now();
    this.published.delete(key);
    this.published.set(key, { id, at: now });
    // Insertion order is age order: the oldest go first, whether expired or over the bound.
    for (const [oldest, entry] of this.published) {
      if (this.published.size <= this.maxEntries && now - entry.at < this.ttlMs) break;
      this.published.delete(oldest);
    }
  }
}
