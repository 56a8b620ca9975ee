import type { ConductorApp } from "../app-catalog.ts";
import type { ConductorService } from "../conductor-service.ts";
import type { DeployRecord } from "../ledger/ledger.ts";
import { matchTarget } from "../../../shared/match-target.ts";

/** GET /apps: each environment with its lock, running and queued deploys, current release and what each host runs. */
export async function appView(service: ConductorService, app: ConductorApp) {
  const { ledger, registry } = service.options;
  const hosts = registry.list().filter((host) => Object.hasOwn(host.apps, app.app));
  const environments = await Promise.all(
    app.environments.map(async (environment) => {
      const [lock, queued, current] = await Promise.all([
        ledger.getLock(app.app, environment.name),
        ledger.listDeploys({ app: app.app, environment: environment.name, states: ["queued"], limit: 500 }),
        ledger.lastSucceeded(app.app, environment.name),
      ]);
      const running = service.runningFor(app.app, environment.name) ?? null;
      return {
        name: environment.name,
        lock: lock ?? null,
        lockRequired: environment.lockRequired,
        gate: environment.gate ?? null,
        running: running && deployView(running),
        queued: queued.length,
        current: current ? { ref: current.ref, sha: current.sha, deployId: current.id, finishedAt: current.finishedAt } : null,
        hosts: hosts
          .filter((host) => matchTarget(environment.target, { identity: host.host, facts: host.facts, classes: host.classes }).matches)
          .map((host) => {
            const entry = host.apps[app.app] ?? {};
            return { host: host.host, alive: host.alive, release: entry.release ?? null, ref: entry.ref ?? null, sha: entry.sha ?? null, health: entry.health ?? "unknown", since: entry.since ?? null, deploying: entry.deploying ?? null };
          }),
      };
    }),
  );
  return { name: app.app, url: app.url, repo: app.repo, description: app.description ?? null, environments };
}

/** A deploy as the API shows it; a queued one says where it stands in its queue. */
export function deployView(deploy: DeployRecord, position?: number) {
  return position === undefined ? deploy : { ...deploy, position };
}
