import type { Logger } from "pino";
import type { DeployStep } from "../../shared/messages/types.ts";

export type ProgressStream = "stdout" | "stderr" | "agent";
export type ProgressState = "started" | "running" | "succeeded" | "failed" | "skipped";
export interface ProgressLine {
  stream: ProgressStream;
  text: string;
}
/** A deploy.progress.v1 body. */
export interface ProgressBody {
  deployId: string;
  host: string;
  step: DeployStep;
  state: ProgressState;
  seq: number;
  lines: ProgressLine[];
}

export interface ProgressReporterOptions {
  deployId: string;
  host: string;
  /** Sends one body, e.g. bus.publish("deploy.progress", body, { correlationId }). */
  publish(body: ProgressBody): Promise<unknown>;
  log: Logger;
  /** Lines are batched for at most this long (default 200). */
  flushMs?: number;
  /** Default 100. */
  maxBatchLines?: number;
  /** Bytes of text per message (default 64 KiB); a longer line is cut to this. */
  maxBatchBytes?: number;
  /** Lines streamed per step (default 10,000); beyond, they are dropped, counted and reported when the step ends. */
  maxStepLines?: number;
  /** Messages waiting to be published (default 200); beyond, new output lines are dropped. State messages never are. */
  maxQueuedMessages?: number;
  /** Last lines kept per step for the results message (default 20). */
  tailLines?: number;
}

interface StepRecord {
  streamed: number;
  overStepLimit: number;
  overQueueLimit: number;
  tail: string[];
}

interface Batch {
  step: DeployStep;
  lines: ProgressLine[];
  bytes: number;
}

/**
 * Streams one deploy's steps and output lines as deploy.progress.v1 bodies,
 * published one at a time in seq order. A slow or failing bus costs output
 * lines, never a step's state, and never blocks or fails the deploy itself.
 */
export class ProgressReporter {
  readonly #options: ProgressReporterOptions;
  readonly #flushMs: number;
  readonly #maxBatchLines: number;
  readonly #maxBatchBytes: number;
  readonly #maxStepLines: number;
  readonly #maxQueuedMessages: number;
  readonly #tailLines: number;
  readonly #steps = new Map<DeployStep, StepRecord>();
  readonly #queue: ProgressBody[] = [];
  readonly #idle: (() => void)[] = [];
  #batch: Batch | undefined;
  #batchTimer: NodeJS.Timeout | undefined;
  #publishing = false;
  #seq = 0;
  #dropped = 0;
  #closed = false;

  constructor(options: ProgressReporterOptions) {
    this.#options = options;
    this.#flushMs = options.flushMs ?? 200;
    this.#maxBatchLines = Math.max(1, options.maxBatchLines ?? 100);
    this.#maxBatchBytes = Math.max(4, options.maxBatchBytes ?? 64 * 1024);
    this.#maxStepLines = options.maxStepLines ?? 10_000;
    this.#maxQueuedMessages = options.maxQueuedMessages ?? 200;
    this.#tailLines = options.tailLines ?? 20;
  }

  /** Flushes the step's buffered lines, then queues its state message; a note becomes one "agent" line in it. */
  step(step: DeployStep, state: "started" | "succeeded" | "failed" | "skipped", note?: string): void {
    if (this.#closed) return;
    this.#flushBatch();
    const record = this.#record(step);
    const lines: ProgressLine[] = [];
    if (note !== undefined) {
      const text = this.#fit(note);
      lines.push({ stream: "agent", text });
      this.#remember(record, text);
    }
    if (state !== "started") {
      if (record.overStepLimit > 0)
        lines.push({ stream: "agent", text: `${record.overStepLimit} lines not streamed (limit ${this.#maxStepLines} per step)` });
      if (record.overQueueLimit > 0)
        lines.push({ stream: "agent", text: `${record.overQueueLimit} lines not streamed (the bus did not keep up with the output)` });
      record.overStepLimit = 0;
      record.overQueueLimit = 0;
    }
    this.#enqueue(step, state, lines);
  }

  /** Buffers one output line; never blocks, never throws. */
  line(step: DeployStep, stream: ProgressStream, text: string): void {
    if (this.#closed) return;
    const record = this.#record(step);
    this.#remember(record, text);
    if (record.streamed >= this.#maxStepLines) {
      record.overStepLimit++;
      this.#dropped++;
      return;
    }
    if (this.#queue.length >= this.#maxQueuedMessages) {
      if (record.overQueueLimit === 0)
        this.#options.log.warn(
          { deployId: this.#options.deployId, step, queued: this.#queue.length },
          "deploy progress is queued faster than the bus takes it; output lines are dropped until it catches up (the step's tail is kept)",
        );
      record.overQueueLimit++;
      this.#dropped++;
      return;
    }
    record.streamed++;
    const fitted = this.#fit(text);
    const bytes = Buffer.byteLength(fitted);
    const batch = this.#batch;
    if (batch && (batch.step !== step || batch.bytes + bytes > this.#maxBatchBytes)) this.#flushBatch();
    if (!this.#batch) {
      this.#batch = { step, lines: [], bytes: 0 };
      this.#batchTimer = setTimeout(() => this.#flushBatch(), this.#flushMs);
    }
    this.#batch.lines.push({ stream, text: fitted });
    this.#batch.bytes += bytes;
    if (this.#batch.lines.length >= this.#maxBatchLines) this.#flushBatch();
  }

  /** The last tailLines texts of that step, streamed or not. */
  tail(step: DeployStep): string[] {
    return [...(this.#steps.get(step)?.tail ?? [])];
  }

  /** Lines not streamed so far. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Sends what is buffered; resolves when every queued message was published (or failed). */
  async flush(): Promise<void> {
    this.#flushBatch();
    if (!this.#publishing && this.#queue.length === 0) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  /** Flushes and stops; later calls to line() and step() are ignored. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  #record(step: DeployStep): StepRecord {
    let record = this.#steps.get(step);
    if (!record) {
      record = { streamed: 0, overStepLimit: 0, overQueueLimit: 0, tail: [] };
      this.#steps.set(step, record);
    }
    return record;
  }

  #remember(record: StepRecord, text: string): void {
    record.tail.push(text);
    if (record.tail.length > this.#tailLines) record.tail.shift();
  }

  #flushBatch(): void {
    clearTimeout(this.#batchTimer);
    this.#batchTimer = undefined;
    const batch = this.#batch;
    if (!batch) return;
    this.#batch = undefined;
    this.#enqueue(batch.step, "running", batch.lines);
  }

  #enqueue(step: DeployStep, state: ProgressState, lines: ProgressLine[]): void {
    const { deployId, host } = this.#options;
    this.#queue.push({ deployId, host, step, state, seq: this.#seq++, lines });
    void this.#pump();
  }

  async #pump(): Promise<void> {
    if (this.#publishing) return;
    this.#publishing = true;
    for (let body = this.#queue.shift(); body; body = this.#queue.shift()) {
      try {
        await this.#options.publish(body);
      } catch (err) {
        this.#options.log.warn(
          { err, deployId: body.deployId, step: body.step, state: body.state, seq: body.seq },
          "publishing deploy progress failed; this message is lost and later ones still go out (check the bus connection)",
        );
      }
    }
    this.#publishing = false;
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** A line longer than a whole message is cut at a character boundary. */
  #fit(text: string): string {
    if (text.length * 3 <= this.#maxBatchBytes) return text;
    const bytes = Buffer.from(text, "utf8");
    if (bytes.length <= this.#maxBatchBytes) return text;
    let end = this.#maxBatchBytes;
    while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
    return bytes.subarray(0, end).toString("utf8");
  }
}
