import { useEffect, useRef, useState } from "preact/hooks";
import { finishedStates } from "../../../shared/api-types.ts";
import type { PageProps } from "../app.tsx";
import { Badge } from "../components/badge.tsx";
import { HostCard } from "../components/host-card.tsx";
import { ErrorNotice, Notice } from "../components/notice.tsx";
import { followDeploy, type StreamStatus } from "../deploy-stream.ts";
import { dateTime, duration, shortSha } from "../format.ts";
import { type LiveDeploy, applyEvent, mergeLines, nextOffset } from "../live-deploy-state.ts";
import { href, navigate } from "../router.ts";
import { may } from "../session.ts";

const statusText: Record<StreamStatus, string> = { connecting: "connecting…", live: "live", reconnecting: "reconnecting…", ended: "finished", refused: "refused" };

/** One deploy as it happens: batches, hosts, steps and logs from the stream, which reconnects by itself. */
export function LivePage({ session, route }: PageProps) {
  const { api, who } = session;
  const id = Number(route.parts[1]);
  const [state, setState] = useState<LiveDeploy | undefined>(undefined);
  const [status, setStatus] = useState<StreamStatus>("connecting");
  const [error, setError] = useState<unknown>(undefined);
  const [actionError, setActionError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const [now, setNow] = useState(Date.now());
  const stateRef = useRef<LiveDeploy | undefined>(undefined);
  stateRef.current = state;

  useEffect(() => {
    if (!Number.isSafeInteger(id) || id <= 0) {
      setError(new Error(`${route.parts[1]} is not a deploy id`));
      return;
    }
    const controller = new AbortController();
    const { signal } = controller;
    // Each (re)connection starts with a snapshot; the log is read from where this page left off, by offset.
    const backfill = async (hosts: string[]) => {
      for (const host of hosts) {
        for (let offset = nextOffset(stateRef.current, host); !signal.aborted; ) {
          const page = await api.log(id, host, offset, signal);
          if (page.lines.length > 0) setState((current) => current && { ...current, logs: mergeLines(current.logs, host, page.lines) });
          if (page.next === null || page.next === offset || page.lines.length === 0) break;
          offset = page.next;
        }
      }
    };
    void followDeploy(api, id, {
      signal,
      onStatus: (next, detail) => {
        setStatus(next);
        if (next === "refused" && detail) setError(new Error(detail));
        if (next === "reconnecting" && detail && stateRef.current === undefined) setError(new Error(detail));
      },
      onEvent: (event) => {
        setState((current) => applyEvent(current, event));
        if (event.type === "snapshot") {
          setError(undefined);
          backfill(event.data.hosts.map((host) => host.host)).catch((err: unknown) => {
            if (!signal.aborted) setError(err);
          });
        }
      },
    });
    return () => controller.abort();
  }, [api, id, route.parts[1]]);

  const running = state !== undefined && !finishedStates.includes(state.deploy.state);
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [running]);

  const act = async (action: () => Promise<unknown>) => {
    setBusy(true);
    setActionError(undefined);
    try {
      await action();
    } catch (err) {
      setActionError(err);
    } finally {
      setBusy(false);
    }
  };

  if (state === undefined) {
    return (
      <main class="page" id="main" aria-busy={error === undefined ? "true" : "false"}>
        <h1>Deploy {route.parts[1]}</h1>
        <ErrorNotice error={error} title="Could not load the deploy" />
        {error === undefined ? <p role="status">{statusText[status]}</p> : null}
      </main>
    );
  }

  const { deploy } = state;
  const started = deploy.startedAt ? Date.parse(deploy.startedAt) : undefined;
  const ended = deploy.finishedAt ? Date.parse(deploy.finishedAt) : now;
  const elapsed = started === undefined ? null : ended - started;
  const stepsOf = (host: string) => state.steps.filter((step) => step.host === host);
  const hostByName = new Map(state.hosts.map((host) => [host.host, host]));
  const unexpected = state.hosts.filter((host) => host.batch < 0);
  const openLogs = state.hosts.length <= 10;
  return (
    <main class="page" id="main" aria-busy="false">
      <div class="row">
        <h1>
          Deploy #{deploy.number} · {deploy.app}/{deploy.environment}
        </h1>
        <span data-deploy-state={deploy.state}>
          <Badge state={deploy.state} />
        </span>
        <span role="status" class="muted" data-stream-status={status}>
          {statusText[status]}
        </span>
      </div>
      <dl class="facts">
        <dt>Version</dt>
        <dd>
          <strong class="mono">{deploy.ref}</strong>{" "}
          <span class="muted mono" title={deploy.sha}>
            {shortSha(deploy.sha)}
          </span>
          {deploy.previousSha ? <span class="muted"> (was {shortSha(deploy.previousSha)})</span> : null}
        </dd>
        {deploy.action === "rollback" && deploy.rollbackOf !== null ? (
          <>
            <dt>Rollback of</dt>
            <dd>
              <a href={href(`/deploys/${deploy.rollbackOf}`)}>deploy {deploy.rollbackOf}</a>
            </dd>
          </>
        ) : null}
        <dt>Who</dt>
        <dd>
          {deploy.actor}
          {deploy.forced ? <strong> (forced past the CI gate)</strong> : null}
        </dd>
        <dt>Requested</dt>
        <dd>{dateTime(deploy.createdAt)}</dd>
        <dt>Started</dt>
        <dd>{deploy.startedAt ? dateTime(deploy.startedAt) : deploy.state === "queued" ? `waiting${deploy.position ? `: number ${deploy.position} in the queue` : ""}` : "—"}</dd>
        <dt>Elapsed</dt>
        <dd>{duration(elapsed)}</dd>
      </dl>
      {deploy.message ? <Notice tone={deploy.state === "succeeded" ? "good" : deploy.state === "running" || deploy.state === "queued" ? "busy" : "bad"}>{deploy.message}</Notice> : null}
      <ErrorNotice error={error} title="The stream failed" />
      <ErrorNotice error={actionError} />
      {may(who, "deployer") ? (
        <div class="row actions">
          {running ? (
            <button type="button" class="danger" disabled={busy} onClick={() => act(() => api.cancel(deploy.id))}>
              Cancel deploy
            </button>
          ) : (
            <button type="button" disabled={busy} onClick={() => act(async () => navigate(`/deploys/${(await api.rollback(deploy.id)).id}`))}>
              Roll back
            </button>
          )}
          <span class="help">{running ? "Hosts deploying now finish or undo their step; hosts not yet asked are skipped." : "Deploys again what ran before this deploy, to the same servers."}</span>
        </div>
      ) : null}
      {state.batches.map((batch) => (
        <section key={batch.batch} aria-labelledby={`batch-${batch.batch}`}>
          <h2 id={`batch-${batch.batch}`}>
            Batch {batch.batch + 1}
            {batch.canary ? " (canary)" : ""}
          </h2>
          {batch.hosts.map((name) => {
            const host = hostByName.get(name);
            return host ? <HostCard key={name} host={host} steps={stepsOf(name)} lines={state.logs.get(name) ?? []} open={openLogs || host.outcome === "failed"} /> : null;
          })}
        </section>
      ))}
      {unexpected.length > 0 ? (
        <section aria-labelledby="batch-unexpected">
          <h2 id="batch-unexpected">Not in the plan</h2>
          {unexpected.map((host) => (
            <HostCard key={host.host} host={host} steps={stepsOf(host.host)} lines={state.logs.get(host.host) ?? []} open={openLogs} />
          ))}
        </section>
      ) : null}
      {state.batches.length === 0 && deploy.state === "queued" ? <p class="muted">The batches are planned when the deploy starts.</p> : null}
    </main>
  );
}
