import type { DeployCheck } from "../conductor-service.ts";
import type { HostView } from "../host-registry.ts";
import type { DeployRecord } from "../ledger/ledger.ts";
import { planBatches } from "../plan-batches.ts";
import { deployView } from "./app-views.ts";

export interface PlanHost {
  host: string;
  /** What the host runs now (null: it has never been deployed), from its last hosts.alive. */
  from: { release: string | null; ref: string | null; sha: string | null } | null;
  /** Already on the sha this deploy would bring. */
  unchanged: boolean;
}

/**
 * POST /plans: a deploy as it would go out now, from the same checks as
 * POST /deploys: which host goes from which release to which, in which
 * batch, and what it would wait behind.
 */
export function planView(check: DeployCheck, hosts: readonly HostView[], running: DeployRecord | undefined, queued: number) {
  const { app, environment } = check;
  const byName = new Map(hosts.map((host) => [host.host, host]));
  const batches = planBatches(check.hosts, environment.rollout).map((names, batch) => ({
    batch,
    canary: batch === 0 && environment.rollout.canary > 0,
    hosts: names.map((name): PlanHost => {
      const entry = byName.get(name)?.apps[app.app];
      const text = (value: unknown) => (typeof value === "string" ? value : null);
      const from = entry === undefined ? null : { release: text(entry.release), ref: text(entry.ref), sha: text(entry.sha) };
      return { host: name, from, unchanged: from?.sha === check.sha };
    }),
  }));
  return {
    app: app.app,
    environment: environment.name,
    ref: check.ref,
    sha: check.sha,
    previousSha: check.previous?.sha ?? null,
    previousRef: check.previous?.ref ?? null,
    // null: the environment has no CI gate (check.gate then only informs).
    gate: environment.gate === undefined ? null : check.gate,
    forced: check.forced,
    rollout: {
      canary: environment.rollout.canary,
      pauseMs: environment.rollout.pause,
    },
    batches,
    // Not refusals: a deploy to a busy environment queues behind what runs there.
    running: running === undefined ? null : deployView(running),
    queued,
  };
}
