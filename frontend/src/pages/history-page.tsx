import { useRef, useState } from "preact/hooks";
import type { App, Deploy, DeployQuery, DeployState } from "../../../shared/api-types.ts";
import type { PageProps } from "../app.tsx";
import { Badge } from "../components/badge.tsx";
import { ErrorNotice } from "../components/notice.tsx";
import { TimeAgo } from "../components/time-ago.tsx";
import { duration, shortSha } from "../format.ts";
import { href, navigate } from "../router.ts";
import { may } from "../session.ts";
import { useLoad } from "../use-load.ts";

const pageSize = 50;
/** The API's largest page: the refresh never asks for more. */
const refreshCap = 500;
const outcomes: readonly DeployState[] = ["queued", "running", "succeeded", "failed", "cancelled", "interrupted"];

interface TopPage {
  key: string;
  limit: number;
  deploys: Deploy[];
}

interface OlderPages {
  key: string;
  deploys: Deploy[];
  exhausted: boolean;
}

/** Every deploy, newest first, filtered by app, environment and outcome (kept in the URL so a view can be shared). */
export function DeploysPage({ session, route }: PageProps) {
  const { api } = session;
  const app = route.query.get("app") ?? "";
  const env = route.query.get("env") ?? "";
  const rawState = route.query.get("state") ?? "";
  const state = outcomes.find((outcome) => outcome === rawState);
  const query: DeployQuery = { app: app || undefined, environment: env || undefined, state };
  const key = JSON.stringify([app, env, state ?? ""]);

  const apps = useLoad((signal) => api.apps(signal), [api]);
  const [older, setOlder] = useState<OlderPages>({ key, deploys: [], exhausted: false });
  const olderHere: OlderPages = older.key === key ? older : { key, deploys: [], exhausted: false };
  const olderCount = useRef(0);
  olderCount.current = olderHere.deploys.length;
  // The refresh asks for as many rows as are shown: states stay current, and
  // rows pushed down by new deploys leave no gap before the older pages.
  const top = useLoad(
    async (signal): Promise<TopPage> => {
      const limit = Math.min(refreshCap, pageSize + olderCount.current);
      return { key, limit, deploys: await api.deploys({ ...query, limit }, signal) };
    },
    [api, key],
    5000,
  );
  const current = top.data?.key === key ? top.data : undefined;
  const rows = current ? merge(current, olderHere) : [];
  const more = current !== undefined && current.deploys.length >= current.limit && !olderHere.exhausted;

  const [fetching, setFetching] = useState(false);
  const [olderError, setOlderError] = useState<unknown>(undefined);
  const loadOlder = async () => {
    const last = rows.at(-1);
    if (!last) return;
    setFetching(true);
    setOlderError(undefined);
    try {
      const page = await api.deploys({ ...query, limit: pageSize, before: last.id });
      setOlder((prev) => {
        const base = prev.key === key ? prev.deploys : [];
        const seen = new Set(base.map((deploy) => deploy.id));
        return { key, deploys: [...base, ...page.filter((deploy) => !seen.has(deploy.id))], exhausted: page.length < pageSize };
      });
    } catch (err) {
      setOlderError(err);
    } finally {
      setFetching(false);
    }
  };

  const setFilter = (next: { app?: string; env?: string; state?: string }) => navigate("/deploys", { app, env, state: rawState, ...next }, true);
  const filtered = app !== "" || env !== "" || state !== undefined;
  return (
    <main class="page" id="main" aria-busy={current === undefined && top.error === undefined ? "true" : "false"}>
      <h1>History</h1>
      <Filters apps={apps.data ?? []} app={app} env={env} state={state ?? ""} onChange={setFilter} />
      <ErrorNotice error={apps.error} title="Could not list the apps" />
      <ErrorNotice error={top.error} title="Could not load the deploys" />
      {current === undefined && top.error === undefined ? <p class="muted">Loading deploys…</p> : null}
      {current !== undefined && rows.length === 0 ? (
        filtered ? (
          <p>
            No deploy matches these filters. <a href={href("/deploys")}>Show every deploy</a>
          </p>
        ) : (
          <p>
            No deploys yet.
            {may(session.who, "deployer") ? (
              <>
                {" "}
                <a href={href("/deploy")}>Deploy</a> a version to see it here.
              </>
            ) : null}
          </p>
        )
      ) : null}
      {rows.length > 0 ? <DeployTable rows={rows} /> : null}
      {rows.length > 0 ? (
        <p class="muted" role="status">
          Showing {rows.length} {rows.length === 1 ? "deploy" : "deploys"}
          {more ? "" : ", the oldest included"}.
        </p>
      ) : null}
      <ErrorNotice error={olderError} title="Could not load older deploys" />
      {more && rows.length > 0 ? (
        <button type="button" onClick={loadOlder} disabled={fetching}>
          {fetching ? "Loading older…" : "Older"}
        </button>
      ) : null}
    </main>
  );
}

/** The refreshed newest rows, then the older pages below them (a short refresh means there is nothing older). */
function merge(top: TopPage, older: OlderPages): Deploy[] {
  const last = top.deploys.at(-1);
  if (last === undefined || top.deploys.length < top.limit) return top.deploys;
  return [...top.deploys, ...older.deploys.filter((deploy) => deploy.id < last.id)];
}

function Filters({ apps, app, env, state, onChange }: { apps: App[]; app: string; env: string; state: string; onChange(next: { app?: string; env?: string; state?: string }): void }) {
  const chosen = apps.find((candidate) => candidate.name === app);
  const names = chosen ? chosen.environments.map((environment) => environment.name) : [...new Set(apps.flatMap((candidate) => candidate.environments.map((environment) => environment.name)))].sort();
  if (env !== "" && !names.includes(env)) names.push(env);
  const appNames = apps.map((candidate) => candidate.name);
  if (app !== "" && !appNames.includes(app)) appNames.push(app);
  const pickApp = (next: string) => {
    const environments = apps.find((candidate) => candidate.name === next)?.environments.map((environment) => environment.name);
    onChange({ app: next, env: environments && !environments.includes(env) ? "" : env });
  };
  return (
    <div class="row filters">
      <div>
        <label for="history-app">App</label>
        <select id="history-app" value={app} onChange={(event) => pickApp(event.currentTarget.value)}>
          <option value="">All apps</option>
          {appNames.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label for="history-env">Environment</label>
        <select id="history-env" value={env} onChange={(event) => onChange({ env: event.currentTarget.value })}>
          <option value="">All environments</option>
          {names.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label for="history-state">Outcome</label>
        <select id="history-state" value={state} onChange={(event) => onChange({ state: event.currentTarget.value })}>
          <option value="">All outcomes</option>
          {outcomes.map((outcome) => (
            <option key={outcome} value={outcome}>
              {outcome}
            </option>
          ))}
        </select>
      </div>
    </div>
  );
}

function DeployTable({ rows }: { rows: Deploy[] }) {
  const numbers = new Map(rows.map((deploy) => [deploy.id, deploy.number]));
  const now = Date.now();
  return (
    <div class="table-wrap">
      <table class="grid">
        <caption class="visually-hidden">Deploys, newest first</caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">App</th>
            <th scope="col">Environment</th>
            <th scope="col">Version</th>
            <th scope="col">Who</th>
            <th scope="col">When</th>
            <th scope="col">Outcome</th>
            <th scope="col">Duration</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((deploy) => (
            <tr key={deploy.id} data-deploy-id={deploy.id}>
              <th scope="row">
                <a href={href(`/deploys/${deploy.id}`)}>#{deploy.number}</a>
              </th>
              <td>{deploy.app}</td>
              <td>{deploy.environment}</td>
              <td>
                <span class="mono" title={`commit ${shortSha(deploy.sha)}`}>
                  {deploy.ref}
                </span>
                {deploy.action === "rollback" ? <RollbackNote of={deploy.rollbackOf} number={deploy.rollbackOf === null ? undefined : numbers.get(deploy.rollbackOf)} /> : null}
              </td>
              <td>
                {deploy.actor}
                {deploy.forced ? <span class="muted"> (forced past the CI gate)</span> : null}
              </td>
              <td>
                <TimeAgo iso={deploy.createdAt} />
              </td>
              <td>
                <Badge state={deploy.state} title={outcomeTitle(deploy)} />
              </td>
              <td>{took(deploy, now)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function RollbackNote({ of, number }: { of: number | null; number: number | undefined }) {
  if (of === null) return <div class="muted">rollback</div>;
  return (
    <div class="muted">
      <a href={href(`/deploys/${of}`)}>{number === undefined ? "rollback of an earlier deploy" : `rollback of #${number}`}</a>
    </div>
  );
}

function outcomeTitle(deploy: Deploy): string | undefined {
  if (deploy.state === "queued" && deploy.position !== undefined) return deploy.position === 1 ? "next to start" : `number ${deploy.position} in the queue`;
  return deploy.message ?? undefined;
}

function took(deploy: Deploy, now: number): string {
  if (!deploy.startedAt) return "—";
  const start = Date.parse(deploy.startedAt);
  if (deploy.finishedAt) return duration(Date.parse(deploy.finishedAt) - start);
  return deploy.state === "running" ? `${duration(now - start)} so far` : "—";
}
