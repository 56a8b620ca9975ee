import type { App, AppEnvironment, EnvironmentHost } from "../../../shared/api-types.ts";
import type { PageProps } from "../app.tsx";
import { Badge } from "../components/badge.tsx";
import { ErrorNotice } from "../components/notice.tsx";
import { ago, dateTime, releaseLabel, shortSha } from "../format.ts";
import { href } from "../router.ts";
import { may } from "../session.ts";
import { useLoad } from "../use-load.ts";

/** What runs where: every app and environment, its hosts' releases, what is running or queued, and locks. */
export function OverviewPage({ session }: PageProps) {
  const apps = useLoad((signal) => session.api.apps(signal), [session], 5000);
  const canDeploy = may(session.who, "deployer");
  const list = apps.data ?? [];
  const environments = list.reduce((n, app) => n + app.environments.length, 0);
  return (
    <main class="page" id="main" aria-busy={apps.data === undefined && apps.error === undefined ? "true" : "false"}>
      <h1>Overview</h1>
      <ErrorNotice error={apps.error} title="Could not load the apps" />
      {apps.data !== undefined && list.length === 0 ? (
        <p>
          The conductor knows no apps yet: each one is a file in its <code>apps.d</code> (see docs/conductor.md).
        </p>
      ) : null}
      {list.length > 0 ? (
        <p class="muted">
          {list.length} {list.length === 1 ? "app" : "apps"}, {environments} {environments === 1 ? "environment" : "environments"}
        </p>
      ) : null}
      <div class="grid-cards">
        {list.flatMap((app) => app.environments.map((environment) => <EnvironmentCard key={`${app.name}/${environment.name}`} app={app} environment={environment} canDeploy={canDeploy} />))}
      </div>
    </main>
  );
}

function EnvironmentCard({ app, environment, canDeploy }: { app: App; environment: AppEnvironment; canDeploy: boolean }) {
  const expected = expectedSha(environment);
  const headingId = `env-${app.name}-${environment.name}`;
  const differing = environment.hosts.filter((host) => differs(host, expected)).length;
  return (
    <section class="panel" data-app={app.name} data-environment={environment.name} aria-labelledby={headingId}>
      <div class="row">
        <h2 id={headingId} class="card-title">
          {app.name} / {environment.name}
        </h2>
        {environment.lock ? <Badge state="locked" title={`locked by ${environment.lock.actor}`} /> : null}
        {canDeploy ? (
          <a class="card-action" href={href("/deploy", { app: app.name, env: environment.name })}>
            Deploy<span class="visually-hidden">
              {" "}
              {app.name} / {environment.name}
            </span>
          </a>
        ) : null}
      </div>
      <p class="card-line">
        {environment.current ? (
          <>
            Current: <strong>{environment.current.ref}</strong>{" "}
            <span class="muted mono" title={environment.current.sha}>
              {shortSha(environment.current.sha)}
            </span>{" "}
            <a href={href(`/deploys/${environment.current.deployId}`)} title={dateTime(environment.current.finishedAt)}>
              deployed {ago(environment.current.finishedAt)}
            </a>
          </>
        ) : (
          <span class="muted">Nothing deployed yet</span>
        )}
      </p>
      {environment.running ? (
        <p class="card-line">
          <Badge state={environment.running.state} />{" "}
          <a href={href(`/deploys/${environment.running.id}`)}>
            Deploy #{environment.running.number} running
          </a>{" "}
          <span class="muted">
            {environment.running.ref} by {environment.running.actor}
          </span>
        </p>
      ) : null}
      {environment.queued > 0 ? (
        <p class="card-line">
          <Badge state="queued" label={`${environment.queued} queued`} />{" "}
          <a href={href("/deploys", { app: app.name, env: environment.name, state: "queued" })}>see the queue</a>
        </p>
      ) : null}
      {environment.lock ? (
        <p class="card-line">
          Locked by <strong>{environment.lock.actor}</strong>: {environment.lock.reason}
          {environment.lock.expiresAt ? <span class="muted"> (until {dateTime(environment.lock.expiresAt)})</span> : null}
          {environment.lockRequired === false ? <span class="muted"> (does not block deploys)</span> : null}
        </p>
      ) : null}
      {environment.hosts.length === 0 ? (
        <p class="muted">No host in this environment's target has announced itself.</p>
      ) : (
        <div class="table-wrap">
          <table class="grid">
            <caption class="visually-hidden">
              Hosts of {app.name} / {environment.name}
              {differing > 0 ? `, ${differing} differing` : ""}
            </caption>
            <thead>
              <tr>
                <th scope="col">Host</th>
                <th scope="col">Release</th>
                <th scope="col">Health</th>
                <th scope="col">Agent</th>
              </tr>
            </thead>
            <tbody>
              {environment.hosts.map((host) => (
                <HostRow key={host.host} host={host} differing={differs(host, expected)} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function HostRow({ host, differing }: { host: EnvironmentHost; differing: boolean }) {
  return (
    <tr data-host={host.host} class={differing ? "differs" : undefined}>
      <th scope="row" class="mono">
        {host.host}
      </th>
      <td>
        <span title={host.sha ?? undefined}>{releaseLabel(host)}</span> {differing ? <Badge state="differs" /> : null}
        {host.deploying ? <Badge state="running" label="deploying" /> : null}
      </td>
      <td>
        <Badge state={host.health ?? "unknown"} />
      </td>
      <td>
        <Badge state={host.alive ? "alive" : "missing"} />
      </td>
    </tr>
  );
}

/** The sha an environment's hosts should run: its last successful deploy's, else what most of its hosts run. */
function expectedSha(environment: AppEnvironment): string | null {
  if (environment.current) return environment.current.sha;
  const counts = new Map<string, number>();
  for (const host of environment.hosts) if (host.sha) counts.set(host.sha, (counts.get(host.sha) ?? 0) + 1);
  let best: string | null = null;
  for (const [sha, count] of counts) if (best === null || count > (counts.get(best) ?? 0)) best = sha;
  return best;
}

function differs(host: EnvironmentHost, expected: string | null): boolean {
  return expected !== null && host.sha !== expected;
}
