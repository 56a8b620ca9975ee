import type { BodyOf } from "../../shared/messages/index.ts";
import type { DeployRecord, Ledger, StepRecord } from "./ledger/ledger.ts";
import type { LiveFeed } from "./live-feed.ts";

/**
 * Writes deploy.progress into the ledger (step timings and log lines) and
 * onto the live feed. Step records are built here rather than read back, so a
 * rollout to hundreds of hosts costs one write per message.
 */
export class ProgressRecorder {
  readonly #ledger: Ledger;
  readonly #feed: LiveFeed;
  readonly #linesPerHost: number;
  readonly #steps = new Map<string, StepRecord>();
  readonly #lines = new Map<string, number>();

  constructor(ledger: Ledger, feed: LiveFeed, linesPerHost: number) {
    this.#ledger = ledger;
    this.#feed = feed;
    this.#linesPerHost = linesPerHost;
  }

  async record(deploy: DeployRecord, progress: BodyOf<"deploy.progress">, time: string): Promise<void> {
    const { host, step, state } = progress;
    const stepKey = `${deploy.id}/${host}/${step}`;
    const known = this.#steps.get(stepKey);
    if (state !== "running" || known === undefined) {
      await this.#ledger.recordStep(deploy.id, host, step, state, time);
      const startedAt = known?.startedAt ?? time;
      const finished = state === "succeeded" || state === "failed" || state === "skipped";
      const record: StepRecord = {
        deployId: deploy.id,
        host,
        step,
        state,
        startedAt,
        finishedAt: finished ? time : null,
        durationMs: finished ? Math.max(0, Date.parse(time) - Date.parse(startedAt)) : null,
      };
      this.#steps.set(stepKey, record);
      this.#feed.emit(deploy.id, { type: "step", step: record });
    }
    if (progress.lines.length === 0) return;
    const counter = `${deploy.id}/${host}`;
    const kept = this.#lines.get(counter) ?? 0;
    const room = Math.max(0, this.#linesPerHost - kept);
    const lines = progress.lines.slice(0, room).map((line) => ({ step, stream: line.stream, text: line.text, time }));
    if (progress.lines.length > room && kept <= this.#linesPerHost) {
      lines.push({ step, stream: "agent", text: `(log limit of ${this.#linesPerHost} lines per host reached: later lines are not kept)`, time });
    }
    this.#lines.set(counter, kept + progress.lines.length + (room < progress.lines.length ? 1 : 0));
    if (lines.length === 0) return;
    const stored = await this.#ledger.appendLog(deploy.id, host, lines);
    this.#feed.emit(deploy.id, { type: "log", host, lines: stored });
  }

  /** Forgets a finished deploy's counters. */
  forget(deployId: number): void {
    for (const map of [this.#steps, this.#lines] as Map<string, unknown>[]) {
      for (const name of map.keys()) if (name.startsWith(`${deployId}/`)) map.delete(name);
    }
  }
}
