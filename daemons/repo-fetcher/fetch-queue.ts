import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { Limiter } from "./limiter.ts";
import type { Mirror } from "../../shared/git/mirror.ts";

export type TriggerKind = "build" | "commit" | "deletion" | "periodic";

/** One reason to fetch a repository: a message, or the periodic fetch. */
export interface Trigger {
  kind: TriggerKind;
  /** A branch or tag, validated: refs/heads/... or refs/tags/... */
  ref?: string;
  /** A full hex object id, validated. */
  sha?: string;
  /** That of the message that asked; absent for the periodic fetch. */
  correlationId?: string;
  /** performance.now() when it arrived: an answer's duration includes the wait for a fetch already running. */
  receivedAt: number;
}

export interface RefChange {
  ref: string;
  /** null: the ref was deleted. */
  sha: string | null;
}

export interface Answer {
  trigger: Trigger;
  /** The trigger's object id or, for a ref given without one, the commit the ref names now. */
  sha?: string;
  /** Whether git fetch ran for this answer (false: the mirror already had it). */
  fetched: boolean;
  /** Whether this fetch created the mirror. */
  cloned: boolean;
  durationMs: number;
  error?: string;
  /** Branches and tags the fetch changed. */
  changes: RefChange[];
}

type Outcome = Omit<Answer, "durationMs">;

// Requests waiting behind one slow fetch are held in memory; past this many, more are answered with an error at once.
export const maxWaiting = 1_000;

/**
 * The fetches of one repository: one at a time, and every trigger that arrives
 * while one runs waits for a single follow-up round, which answers them all.
 * A round fetches only if some trigger names something the mirror lacks.
 */
export class FetchQueue {
  private readonly mirror: Mirror;
  private readonly limiter: Limiter;
  private readonly log: Logger;
  private readonly onAnswer: (answer: Answer) => void;
  private pending: Trigger[] = [];
  private running?: Promise<void>;
  private stopped = false;

  constructor(mirror: Mirror, limiter: Limiter, log: Logger, onAnswer: (answer: Answer) => void) {
    this.mirror = mirror;
    this.limiter = limiter;
    this.log = log;
    this.onAnswer = onAnswer;
  }

  add(trigger: Trigger): void {
    if (this.stopped) return;
    // Periodic fetches that pile up behind a slow one are the same request.
    if (trigger.kind === "periodic" && this.pending.some((t) => t.kind === "periodic")) return;
    if (this.pending.length >= maxWaiting) {
      const error = `${maxWaiting} requests are already waiting for this repository's fetch: refused (the periodic fetch catches up)`;
      this.onAnswer({ trigger, sha: trigger.sha, fetched: false, cloned: false, changes: [], error, durationMs: 0 });
      return;
    }
    this.pending.push(trigger);
    this.running ??= this.drain();
  }

  /** Drops what has not started (the next periodic fetch covers it) and waits for the round in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.pending.length > 0) this.log.info({ dropped: this.pending.length }, "stopping: requests not yet started are dropped");
    this.pending = [];
    await this.running;
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0 && !this.stopped) {
        const batch = this.pending;
        this.pending = [];
        const release = await this.limiter.acquire();
        try {
          for (const outcome of await this.round(batch)) {
            this.onAnswer({ ...outcome, durationMs: Math.round(performance.now() - outcome.trigger.receivedAt) });
          }
        } finally {
          release();
        }
      }
    } catch (err) {
      // round() answers every failure of git itself; this is a bug, and must not take the daemon down.
      this.log.error({ err }, "fetch queue failed; the next request starts it again");
    } finally {
      this.running = undefined;
    }
  }

  private async round(batch: Trigger[]): Promise<Outcome[]> {
    const started = performance.now();
    const mirror = this.mirror;
    const stale: Trigger[] = [];
    const outcomes: Outcome[] = [];
    let fetching = false;
    try {
      if (!(await mirror.exists())) {
        fetching = true;
        await mirror.create();
        const changes = diff(new Map(), await mirror.refs());
        this.log.info({ ms: Math.round(performance.now() - started), requests: batch.length, refs: changes.length }, "cloned a new mirror");
        return await this.verify(batch, { fetched: true, cloned: true, changes }, new Map());
      }
      // Every git process counts when twenty servers share a machine: the refs
      // answer the usual questions, and cat-file is asked only what they cannot.
      const before = await mirror.refs();
      const state = await mirror.lookup(batch.filter((t) => !answeredByRefs(t, before)).flatMap(currentNames));
      for (const [ref, sha] of before) if (!state.has(ref)) state.set(ref, sha);
      for (const t of batch) if (t.sha && answeredByRefs(t, before)) state.set(t.sha, t.sha);
      for (const trigger of batch) {
        if (isCurrent(trigger, state)) outcomes.push({ trigger, sha: trigger.sha, fetched: false, cloned: false, changes: [] });
        else stale.push(trigger);
      }
      if (stale.length === 0) {
        this.log.debug({ requests: batch.length }, "the mirror already has what was asked for: nothing fetched");
        return outcomes;
      }
      fetching = true;
      await mirror.fetch();
      const after = await mirror.refs();
      const changes = diff(before, after);
      this.log.info({ ms: Math.round(performance.now() - started), requests: batch.length, changes: changes.length }, "fetched");
      return [...outcomes, ...(await this.verify(stale, { fetched: true, cloned: false, changes }, after))];
    } catch (err) {
      const error = (err as Error).message;
      this.log.warn({ err, requests: batch.length }, "fetch failed");
      const answered = new Set(outcomes.map((o) => o.trigger));
      return [
        ...outcomes,
        ...batch.filter((t) => !answered.has(t)).map((trigger) => ({ trigger, sha: trigger.sha, fetched: fetching, cloned: false, changes: [], error })),
      ];
    }
  }

  /** After a fetch: each trigger's commit must now be in the mirror. */
  private async verify(triggers: Trigger[], result: Omit<Outcome, "trigger">, refs: Map<string, string>): Promise<Outcome[]> {
    const state = await this.mirror.lookup(
      triggers
        .filter((t) => !answeredByRefs(t, refs))
        .flatMap((t) => (t.kind === "deletion" || t.kind === "periodic" ? [] : t.sha ? [t.sha] : t.ref ? [`${t.ref}^{commit}`] : [])),
    );
    // A branch or tag that now names the commit answers without asking git.
    for (const t of triggers) if (t.sha && answeredByRefs(t, refs)) state.set(t.sha, t.sha);
    return triggers.map((trigger) => {
      if (trigger.kind === "deletion" || trigger.kind === "periodic") return { ...result, trigger };
      if (trigger.sha) {
        if (state.get(trigger.sha)) return { ...result, trigger, sha: trigger.sha };
        return { ...result, trigger, sha: trigger.sha, error: `${trigger.sha} is not on any branch or tag of the git server (force-pushed away?)` };
      }
      if (!trigger.ref) return { ...result, trigger };
      const sha = state.get(`${trigger.ref}^{commit}`);
      return sha ? { ...result, trigger, sha } : { ...result, trigger, error: `${trigger.ref} is not on the git server` };
    });
  }
}

/**
 * Whether the mirror's branches and tags alone settle a trigger: its ref
 * names exactly its commit (a branch, or a lightweight tag), or, for a
 * deletion, the ref is there or not. Anything else (an annotated tag, a bare
 * sha) needs cat-file.
 */
function answeredByRefs(trigger: Trigger, refs: Map<string, string>): boolean {
  switch (trigger.kind) {
    case "periodic":
      return true;
    case "deletion":
      return trigger.ref !== undefined;
    case "build":
    case "commit":
      return trigger.ref !== undefined && trigger.sha !== undefined && refs.get(trigger.ref) === trigger.sha;
    default: {
      const unreachable: never = trigger.kind;
      return unreachable;
    }
  }
}

/** What to look up to know whether the mirror already answers a trigger. */
function currentNames(trigger: Trigger): string[] {
  const { ref, sha } = trigger;
  switch (trigger.kind) {
    case "periodic":
      return [];
    case "deletion":
      return ref ? [ref] : [];
    case "build":
    case "commit":
      if (!sha) return [];
      return ref ? [sha, ref, `${ref}^{commit}`] : [sha];
    default: {
      const unreachable: never = trigger.kind;
      return unreachable;
    }
  }
}

/**
 * Idempotence: a commit already in the mirror, on the ref the message names,
 * is not fetched again; a deleted ref already gone is not pruned again.
 */
function isCurrent(trigger: Trigger, state: Map<string, string | undefined>): boolean {
  const { ref, sha } = trigger;
  switch (trigger.kind) {
    case "periodic":
      return false;
    case "deletion":
      return ref !== undefined && state.get(ref) === undefined;
    case "build":
    case "commit":
      if (!sha || !state.get(sha)) return false;
      return ref === undefined || state.get(ref) === sha || state.get(`${ref}^{commit}`) === sha;
    default: {
      const unreachable: never = trigger.kind;
      return unreachable;
    }
  }
}

function diff(before: Map<string, string>, after: Map<string, string>): RefChange[] {
  const changes: RefChange[] = [];
  for (const [ref, sha] of after) if (before.get(ref) !== sha) changes.push({ ref, sha });
  for (const ref of before.keys()) if (!after.has(ref)) changes.push({ ref, sha: null });
  return changes;
}
