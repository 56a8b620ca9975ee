import type { Logger } from "pino";
import type { Bus } from "../../shared/bus/bus.ts";
import type { BodyInput } from "../../shared/messages/index.ts";

export type AliveBody = BodyInput<"hosts.alive">;

// setTimeout takes at most 2^31-1 ms; a longer interval would fire at once.
const longestTimer = 2 ** 31 - 1;

export interface PresenceOptions {
  bus: Bus;
  log: Logger;
  intervalMs: number;
  /** The body of each message but its event, read fresh every time (what runs here changes). */
  snapshot(): Promise<Pick<AliveBody, "host" | "agentVersion" | "facts" | "classes" | "apps">>;
}

/**
 * hosts.alive: startup, then alive at an interval whose first wait is a
 * random part of it (a fleet restarted together does not report together),
 * then shutdown. A failed publish is logged and the next tick tries again.
 */
export class Presence {
  readonly options: PresenceOptions;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: PresenceOptions) {
    this.options = options;
  }

  async announce(event: AliveBody["event"], extra: Record<string, unknown> = {}): Promise<void> {
    const body: AliveBody = { ...(await this.options.snapshot()), ...extra, event };
    await this.options.bus.publish("hosts.alive", body);
  }

  /** Publishes startup (a bus that is down is logged, not fatal: the alive ticks catch up) and starts the ticks. */
  async start(extra: Record<string, unknown>): Promise<void> {
    await this.announce("startup", extra).catch((err: unknown) => this.options.log.warn({ err }, "could not publish the startup message; alive messages follow"));
    const interval = Math.min(Math.max(this.options.intervalMs, 1000), longestTimer);
    const tick = () => {
      this.announce("alive").then(
        () => undefined,
        (err: unknown) => this.options.log.warn({ err }, "could not publish hosts.alive"),
      );
      if (!this.#stopped) this.#timer = setTimeout(tick, interval);
    };
    if (!this.#stopped) this.#timer = setTimeout(tick, Math.floor(Math.random() * interval));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.announce("shutdown");
  }
}
