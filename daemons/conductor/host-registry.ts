import type { BodyOf } from "../../shared/messages/index.ts";
import { matchTarget, type TargetFilter } from "../../shared/match-target.ts";
import type { HostRecord, Ledger } from "./ledger/ledger.ts";

export interface HostView extends HostRecord {
  alive: boolean;
}

export type HostChoice = { ok: true; hosts: string[] } | { ok: false; message: string };

/**
 * What the conductor knows of the fleet, from hosts.alive: kept in memory for
 * targeting and written through to the ledger, so a restarted conductor
 * targets the hosts it knew before their next alive message.
 */
export class HostRegistry {
  readonly #hosts = new Map<string, HostRecord>();
  readonly #ledger: Ledger;
  readonly #expiryMs: number;
  readonly #now: () => number;

  constructor(ledger: Ledger, expiryMs: number, now: () => number = Date.now) {
    this.#ledger = ledger;
    this.#expiryMs = expiryMs;
    this.#now = now;
  }

  async load(): Promise<void> {
    for (const host of await this.#ledger.listHosts()) this.#hosts.set(host.host, host);
  }

  async observe(body: BodyOf<"hosts.alive">, time: string): Promise<HostRecord> {
    const known = this.#hosts.get(body.host);
    // A late alive message (sent before one already seen) must not roll the record back.
    if (known && known.lastSeen > time) return known;
    const record: HostRecord = {
      host: body.host,
      firstSeen: known?.firstSeen ?? time,
      lastSeen: time,
      event: body.event,
      facts: body.facts,
      classes: body.classes,
      apps: body.apps as HostRecord["apps"],
      agentVersion: body.agentVersion,
    };
    this.#hosts.set(body.host, record);
    const { firstSeen: _firstSeen, ...stored } = record;
    await this.#ledger.upsertHost(stored);
    return record;
  }

  /**
   * A host answered that it deployed: what runs there changes now, not at its
   * next alive message (which then confirms or corrects it). Memory only.
   */
  noteDeployed(host: string, app: string, entry: { release: string | null; sha: string; ref: string; since: string }): void {
    const record = this.#hosts.get(host);
    if (record === undefined) return;
    const previous = record.apps[app] ?? {};
    // It is no longer deploying: the alive message that said so is older than this answer.
    const { deploying: _deploying, ...rest } = previous;
    this.#hosts.set(host, { ...record, apps: { ...record.apps, [app]: { ...rest, ...entry } } });
  }

  alive(record: HostRecord): boolean {
    return record.event !== "shutdown" && this.#now() - Date.parse(record.lastSeen) <= this.#expiryMs;
  }

  list(): HostView[] {
    return [...this.#hosts.values()].map((record) => ({ ...record, alive: this.alive(record) })).sort((a, b) => a.host.localeCompare(b.host));
  }

  /**
   * The hosts a deploy of `app` goes to: alive, carrying the app, matching the
   * environment's target. Hosts asked for by name must each qualify; the
   * refusal says why each one does not.
   */
  choose(app: string, target: TargetFilter, requested: readonly string[] | null): HostChoice {
    const eligible = (record: HostRecord): string | undefined => {
      if (!this.alive(record)) return record.event === "shutdown" ? "has shut down" : `has not been seen since ${record.lastSeen}`;
      if (!Object.hasOwn(record.apps, app)) return `does not carry ${app}`;
      const match = matchTarget(target, { identity: record.host, facts: record.facts, classes: record.classes });
      return match.matches ? undefined : `is outside the environment's target (${match.why})`;
    };
    if (requested !== null) {
      const problems = requested.map((host) => {
        const record = this.#hosts.get(host);
        const why = record ? eligible(record) : "has never been seen (no hosts.alive from it)";
        return why && `${host} ${why}`;
      });
      const refused = problems.filter((problem) => problem !== undefined);
      if (refused.length > 0) return { ok: false, message: refused.join("; ") };
      return { ok: true, hosts: [...new Set(requested)].sort() };
    }
    const hosts = [...this.#hosts.values()].filter((record) => eligible(record) === undefined).map((record) => record.host);
    if (hosts.length === 0) {
      const carrying = [...this.#hosts.values()].filter((record) => Object.hasOwn(record.apps, app));
      const message =
        carrying.length === 0
          ? `no host carries ${app}: its agents need apps.d/${app}.yaml (see docs/deploy-agent.md)`
          : `no live host of ${app} matches the target: ${carrying.map((record) => `${record.host} ${eligible(record)}`).join("; ")}`;
      return { ok: false, message };
    }
    return { ok: true, hosts: hosts.sort() };
  }
}
