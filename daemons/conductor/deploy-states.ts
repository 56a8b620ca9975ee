import type { Logger } from "pino";
import type { Bus } from "../../shared/bus/bus.ts";
import type { DeployPatch, DeployRecord, DeployState, Ledger } from "./ledger/ledger.ts";
import type { LiveFeed } from "./live-feed.ts";

export interface DeployStatesOptions {
  ledger: Ledger;
  bus: Bus;
  feed: LiveFeed;
  log: Logger;
  /** Called once per state a deploy enters (for metrics). */
  onState?: (state: DeployState) => void;
}

/** Where a deploy's state change is recorded and told: the ledger, the live feed, deploy.events, and a line on events. */
export class DeployStates {
  readonly #options: DeployStatesOptions;

  constructor(options: DeployStatesOptions) {
    this.#options = options;
  }

  async set(deploy: DeployRecord, patch: DeployPatch): Promise<DeployRecord> {
    const { ledger, feed } = this.#options;
    await ledger.updateDeploy(deploy.id, patch);
    const updated = { ...deploy, ...patch };
    feed.emit(deploy.id, { type: "deploy", deploy: updated });
    if (patch.state !== undefined && patch.state !== deploy.state) await this.announce(updated);
    return updated;
  }

  /** deploy.events for machines, a line on events for people and chat bots. */
  async announce(deploy: DeployRecord): Promise<void> {
    const { bus, log } = this.#options;
    this.#options.onState?.(deploy.state);
    const summary = `${deploy.app}/${deploy.environment} #${deploy.number} ${deploy.action} of ${deploy.ref} by ${deploy.actor}: ${deploy.state}${deploy.message ? ` (${deploy.message})` : ""}`;
    log.info({ deploy: deploy.id, state: deploy.state, message: deploy.message }, summary);
    const body = {
      deployId: deploy.uid,
      app: deploy.app,
      environment: deploy.environment,
      state: deploy.state,
      ...(deploy.message ? { message: deploy.message } : {}),
      id: deploy.id,
      number: deploy.number,
      action: deploy.action,
      ref: deploy.ref,
      sha: deploy.sha,
      actor: deploy.actor,
    };
    await bus.publish("deploy.events", body, { correlationId: deploy.uid }).catch((err: unknown) => log.warn({ err }, "could not publish deploy.events"));
    const level = deploy.state === "failed" || deploy.state === "interrupted" ? "error" : deploy.state === "cancelled" ? "warning" : "info";
    await bus.publish("events", { text: summary, level }, { correlationId: deploy.uid }).catch((err: unknown) => log.warn({ err }, "could not publish events"));
  }
}
