import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { Bus } from "../../shared/bus/bus.ts";
import type { DeployRequest, UnsignedDeployRequest } from "../../shared/deploy-signature.ts";
import type { BodyOf } from "../../shared/messages/index.ts";
import type { DeployHostPatch, DeployHostRecord, DeployPatch, DeployRecord, HostOutcome, HostRecord, Ledger } from "./ledger/ledger.ts";
import type { LiveFeed } from "./live-feed.ts";

/** Outcomes that count against the failure budget. */
const failures: ReadonlySet<HostOutcome> = new Set(["failed", "rolled-back", "refused", "timeout"]);
// After a cancel, how long hosts in the running batch get to answer it before they count as timed out.
const cancelGraceMs = 30_000;

export interface RolloutOptions {
  ledger: Ledger;
  bus: Bus;
  feed: LiveFeed;
  log: Logger;
  sign(request: UnsignedDeployRequest): DeployRequest;
  /** Records a state change of the whole deploy everywhere it is seen (ledger, feed, deploy.events). */
  setState(deploy: DeployRecord, patch: DeployPatch): Promise<DeployRecord>;
  requestTtlMs: number;
  hostTimeoutMs: number;
  pauseMs: number;
  /** Hosts that may fail before the rollout stops. */
  failureBudget: number;
  now?: () => number;
}

/**
 * One deploy going out: batch after batch (the canary is batch 0), each a
 * signed request to exactly its hosts, each host answering on deploy.results
 * within the host timeout. The first failure beyond the budget stops it and
 * the hosts not yet asked are skipped. Everything it learns goes to the ledger
 * first, so a restarted conductor picks the rollout up where it was.
 */
export class Rollout {
  deploy: DeployRecord;
  readonly #options: RolloutOptions;
  readonly #hosts = new Map<string, DeployHostRecord>();
  readonly #batches: string[][];
  readonly #interrupt = new AbortController();
  #cancelledBy: string | undefined;
  #stopping = false;
  #wake: (() => void) | undefined;

  constructor(deploy: DeployRecord, hosts: readonly DeployHostRecord[], options: RolloutOptions) {
    this.deploy = deploy;
    this.#options = options;
    const batches: string[][] = [];
    for (const host of hosts) {
      this.#hosts.set(host.host, host);
      if (host.batch < 0) continue;
      const batch = batches[host.batch] ?? [];
      batch.push(host.host);
      batches[host.batch] = batch;
    }
    this.#batches = batches.filter((batch) => batch !== undefined);
  }

  /** Runs to the end and records the final state; returns early (state left running) when the conductor stops. */
  async run(): Promise<void> {
    const { log } = this.#options;
    if (this.deploy.state !== "running") this.deploy = await this.#options.setState(this.deploy, { state: "running", startedAt: this.#nowIso() });
    let stopped: string | undefined;
    for (const [index, batch] of this.#batches.entries()) {
      const waiting = batch.filter((host) => this.#hosts.get(host)?.outcome === "pending");
      const unasked = waiting.filter((host) => this.#hosts.get(host)?.requestedAt === null);
      if (index > 0 && unasked.length > 0 && this.#options.pauseMs > 0) {
        log.info({ batch: index, pauseMs: this.#options.pauseMs }, "pausing before the next batch");
        await sleep(this.#options.pauseMs, undefined, { signal: this.#interrupt.signal }).catch(() => undefined);
      }
      if (this.#stopping) return;
      if (this.#cancelledBy !== undefined) break;
      if (unasked.length > 0) {
        const sent = await this.#request(index, unasked);
        if (!sent.ok) {
          stopped = sent.message;
          break;
        }
      }
      await this.#waitFor(batch);
      if (this.#stopping) return;
      if (this.#cancelledBy !== undefined) break;
      await this.#timeOut(batch, `did not answer within the host timeout (${Math.round(this.#options.hostTimeoutMs / 1000)} s)`);
      const failed = this.#failedHosts();
      if (failed.length > this.#options.failureBudget) {
        stopped = `${describeFailures(failed)}${this.#options.failureBudget > 0 ? ` (failure budget ${this.#options.failureBudget})` : ""}`;
        break;
      }
    }
    if (this.#cancelledBy !== undefined) await this.#cancelInFlight();
    if (this.#stopping) return;
    const skipped = await this.#skipUnasked();
    await this.#finish(stopped, skipped);
  }

  /** Stops the rollout: hosts not yet asked are skipped, hosts deploying now are told to cancel. */
  cancel(actor: string): void {
    this.#cancelledBy ??= actor;
    this.#interrupt.abort();
    this.#wake?.();
  }

  /** The conductor is stopping: leave the deploy running in the ledger, to be resumed at the next start. */
  stop(): void {
    this.#stopping = true;
    this.#interrupt.abort();
    this.#wake?.();
  }

  /** A deploy.results answer for this deploy. */
  async onResult(result: BodyOf<"deploy.results">): Promise<void> {
    const { log } = this.#options;
    const known = this.#hosts.get(result.host);
    const outcome: HostOutcome = result.outcome;
    const answer: DeployHostPatch = {
      outcome,
      release: result.release ?? null,
      previousRelease: result.previousRelease ?? null,
      failedStep: result.failedStep ?? null,
      reason: result.reason ?? null,
      finishedAt: this.#nowIso(),
      durationMs: result.durationMs,
    };
    if (known === undefined || known.unexpected) {
      log.warn({ host: result.host, outcome }, "answer from a host this deploy did not ask: flagged as unexpected");
      await this.#updateHost(result.host, { ...answer, batch: -1, unexpected: true });
      return;
    }
    if (known.outcome === "pending" && known.requestedAt === null) {
      log.warn({ host: result.host, outcome }, "answer from a host before its batch was asked: ignored");
      return;
    }
    if (known.outcome !== "pending") {
      // A host that answers after it was counted as timed out did finish: the ledger says what it really did.
      if (known.outcome === "timeout" && outcome !== "timeout") {
        await this.#updateHost(result.host, { ...answer, reason: `answered after the host timeout: ${result.reason ?? outcome}` });
      } else log.debug({ host: result.host, outcome }, "second answer from a host: ignored");
      return;
    }
    await this.#updateHost(result.host, answer);
    this.#wake?.();
  }

  /**
   * What hosts.alive says about a host still pending: results are not kept by
   * the bus, so an answer sent while the conductor was down is learned here.
   */
  async onAlive(record: HostRecord): Promise<void> {
    const known = this.#hosts.get(record.host);
    if (known === undefined || known.outcome !== "pending" || known.requestedAt === null) return;
    const app = record.apps[this.deploy.app];
    if (app === undefined || app.deploying === this.deploy.uid) return;
    // Only once the request has certainly reached the agent or expired there, so an alive sent before it arrived says nothing.
    if (Date.parse(record.lastSeen) < Date.parse(known.requestedAt) + this.#options.requestTtlMs) return;
    const patch: DeployHostPatch =
      app.sha === this.deploy.sha
        ? { outcome: "succeeded", release: typeof app.release === "string" ? app.release : null, reason: "learned from hosts.alive: the host runs this sha; its answer was missed" }
        : { outcome: "failed", reason: `learned from hosts.alive: the host runs ${String(app.sha ?? "nothing")}, not ${this.deploy.sha}, and its answer was missed` };
    await this.#updateHost(record.host, { ...patch, finishedAt: this.#nowIso() });
    this.#wake?.();
  }

  async #request(batch: number, hosts: string[]): Promise<{ ok: true } | { ok: false; message: string }> {
    const { bus, log } = this.#options;
    const { deploy } = this;
    try {
      const request = this.#options.sign({
        deployId: deploy.uid,
        action: "deploy",
        app: deploy.app,
        environment: deploy.environment,
        ref: deploy.ref,
        sha: deploy.sha,
        target: { identities: hosts },
        batch,
        ttl: Math.max(1, Math.ceil(this.#options.requestTtlMs / 1000)),
        actor: deploy.actor,
      });
      const requestedAt = this.#nowIso();
      for (const host of hosts) await this.#updateHost(host, { requestedAt });
      await bus.publish("deploy.requests", request, { correlationId: deploy.uid });
      log.info({ batch, hosts: hosts.length }, "deploy request sent");
      return { ok: true };
    } catch (err) {
      log.error({ err, batch }, "could not send the deploy request");
      for (const host of hosts) await this.#updateHost(host, { requestedAt: null });
      return { ok: false, message: `could not send the request for batch ${batch}: ${(err as Error).message}` };
    }
  }

  async #waitFor(batch: readonly string[]): Promise<void> {
    const pending = () => batch.filter((host) => this.#hosts.get(host)?.outcome === "pending");
    while (pending().length > 0 && !this.#interrupt.signal.aborted) {
      const deadline = this.#deadline(pending());
      const left = deadline - this.#now();
      if (left <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 2 ** 31 - 1));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  #deadline(hosts: readonly string[]): number {
    const asked = hosts.map((host) => Date.parse(this.#hosts.get(host)?.requestedAt ?? "")).filter((time) => !Number.isNaN(time));
    return asked.length === 0 ? this.#now() : Math.max(...asked) + this.#options.hostTimeoutMs;
  }

  async #timeOut(batch: readonly string[], reason: string): Promise<void> {
    for (const host of batch) {
      const record = this.#hosts.get(host);
      if (record?.outcome !== "pending" || record.requestedAt === null) continue;
      if (this.#now() < Date.parse(record.requestedAt) + this.#options.hostTimeoutMs) continue;
      await this.#updateHost(host, { outcome: "timeout", reason, finishedAt: this.#nowIso() });
    }
  }

  async #cancelInFlight(): Promise<void> {
    const { bus, log } = this.#options;
    const running = [...this.#hosts.values()].filter((host) => host.outcome === "pending" && host.requestedAt !== null).map((host) => host.host);
    if (running.length === 0) return;
    try {
      const request = this.#options.sign({
        deployId: this.deploy.uid,
        action: "cancel",
        app: this.deploy.app,
        environment: this.deploy.environment,
        target: { identities: running },
        ttl: Math.max(1, Math.ceil(this.#options.requestTtlMs / 1000)),
        actor: this.#cancelledBy,
      });
      await bus.publish("deploy.requests", request, { correlationId: this.deploy.uid });
      log.info({ hosts: running.length }, "cancel sent to the hosts still deploying");
    } catch (err) {
      log.error({ err }, "could not send the cancel request");
    }
    const until = this.#now() + Math.min(cancelGraceMs, this.#options.hostTimeoutMs);
    while (running.some((host) => this.#hosts.get(host)?.outcome === "pending") && this.#now() < until && !this.#stopping) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, until - this.#now());
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
    for (const host of running) {
      if (this.#hosts.get(host)?.outcome === "pending") await this.#updateHost(host, { outcome: "timeout", reason: "did not answer the cancel", finishedAt: this.#nowIso() });
    }
  }

  async #skipUnasked(): Promise<number> {
    let skipped = 0;
    for (const record of this.#hosts.values()) {
      if (record.outcome !== "pending") continue;
      skipped++;
      await this.#updateHost(record.host, { outcome: "skipped", reason: record.requestedAt === null ? "not asked: the rollout stopped first" : "the rollout stopped before it answered" });
    }
    return skipped;
  }

  async #finish(stopped: string | undefined, skipped: number): Promise<void> {
    const planned = [...this.#hosts.values()].filter((host) => !host.unexpected);
    const failed = this.#failedHosts();
    const succeeded = planned.filter((host) => host.outcome === "succeeded").length;
    const tail = skipped > 0 ? `; ${skipped} host${skipped === 1 ? "" : "s"} skipped` : "";
    let patch: DeployPatch;
    if (this.#cancelledBy !== undefined) patch = { state: "cancelled", message: `cancelled by ${this.#cancelledBy}${tail}` };
    else if (stopped !== undefined) patch = { state: "failed", message: `${stopped}${tail}` };
    else if (failed.length > 0) patch = { state: "succeeded", message: `${succeeded} of ${planned.length} hosts succeeded; within the failure budget: ${describeFailures(failed)}` };
    else patch = { state: "succeeded", message: `${succeeded} host${succeeded === 1 ? "" : "s"} succeeded` };
    this.deploy = await this.#options.setState(this.deploy, { ...patch, finishedAt: this.#nowIso() });
  }

  #failedHosts(): DeployHostRecord[] {
    return [...this.#hosts.values()].filter((host) => !host.unexpected && failures.has(host.outcome));
  }

  async #updateHost(host: string, patch: DeployHostPatch): Promise<void> {
    const known = this.#hosts.get(host);
    const record: DeployHostRecord = {
      ...(known ?? {
        deployId: this.deploy.id,
        host,
        batch: -1,
        outcome: "pending",
        unexpected: true,
        release: null,
        previousRelease: null,
        failedStep: null,
        reason: null,
        requestedAt: null,
        finishedAt: null,
        durationMs: null,
      }),
      ...patch,
    };
    this.#hosts.set(host, record);
    await this.#options.ledger.updateDeployHost(this.deploy.id, host, patch);
    this.#options.feed.emit(this.deploy.id, { type: "host", host: record });
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }

  #nowIso(): string {
    return new Date(this.#now()).toISOString();
  }
}

/** "web-2 failed at restart: exit 1; web-5 timeout" — the first few, for the deploy's message. */
export function describeFailures(hosts: readonly DeployHostRecord[]): string {
  const shown = hosts.slice(0, 3).map((host) => {
    const at = host.failedStep ? ` at ${host.failedStep}` : "";
    return `${host.host} ${host.outcome}${at}${host.reason ? `: ${host.reason}` : ""}`;
  });
  const more = hosts.length > shown.length ? ` and ${hosts.length - shown.length} more` : "";
  return `${shown.join("; ")}${more}`;
}
