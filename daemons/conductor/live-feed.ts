import type { DeployHostRecord, DeployRecord, LogLine, StepRecord } from "./ledger/ledger.ts";

export type FeedEvent =
  | { type: "deploy"; deploy: DeployRecord }
  | { type: "host"; host: DeployHostRecord }
  | { type: "step"; step: StepRecord }
  | { type: "log"; host: string; lines: LogLine[] };

type Listener = (event: FeedEvent) => void;

/** What happens to each deploy, as it happens: the stream behind GET /deploys/:id/stream. */
export class LiveFeed {
  readonly #listeners = new Map<number, Set<Listener>>();

  subscribe(deployId: number, listener: Listener): () => void {
    let set = this.#listeners.get(deployId);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(deployId, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(deployId);
    };
  }

  emit(deployId: number, event: FeedEvent): void {
    for (const listener of this.#listeners.get(deployId) ?? []) listener(event);
  }

  get listeners(): number {
    let count = 0;
    for (const set of this.#listeners.values()) count += set.size;
    return count;
  }
}
