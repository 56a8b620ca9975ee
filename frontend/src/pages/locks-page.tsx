import { useEffect, useState } from "preact/hooks";
import type { Lock } from "../../../shared/api-types.ts";
import type { PageProps } from "../app.tsx";
import { Badge } from "../components/badge.tsx";
import { LockForm, type LockTarget, label } from "../components/lock-form.tsx";
import { ErrorNotice, Notice } from "../components/notice.tsx";
import { TimeAgo } from "../components/time-ago.tsx";
import { dateTime } from "../format.ts";
import { may } from "../session.ts";
import { useLoad } from "../use-load.ts";

interface Row extends LockTarget {
  lock: Lock | null;
}

/** Which environments are locked, by whom and why; admins lock and unlock them here. */
export function LocksPage({ session }: PageProps) {
  const { api } = session;
  const apps = useLoad((signal) => api.apps(signal), [api], 10_000);
  const admin = may(session.who, "admin");
  const [done, setDone] = useState<string | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [unlocking, setUnlocking] = useState<string | undefined>(undefined);
  const rows: Row[] = (apps.data ?? []).flatMap((app) =>
    app.environments.map((environment) => ({
      app: app.name,
      environment: environment.name,
      lock: environment.lock,
      locked: environment.lock !== null,
      lockRequired: environment.lockRequired !== false,
    })),
  );
  const locked = rows.filter((row) => row.locked).length;

  // The confirmation waits for the reloaded table, so what it says is already visible.
  const [pending, setPending] = useState<{ text: string; data: unknown } | undefined>(undefined);
  useEffect(() => {
    if (pending === undefined || (apps.data === pending.data && apps.error === undefined)) return;
    setDone(pending.text);
    setPending(undefined);
    setUnlocking(undefined);
  }, [apps.data, apps.error, pending]);
  const settle = (text: string) => {
    setPending({ text, data: apps.data });
    apps.reload();
  };

  const unlock = async (row: Row) => {
    setUnlocking(label(row));
    setError(undefined);
    setDone(undefined);
    try {
      await api.unlock(row.app, row.environment);
      settle(`Unlocked ${label(row)}.`);
    } catch (err) {
      setError(err);
      setUnlocking(undefined);
      apps.reload();
    }
  };
  const onLocked = (target: LockTarget) => {
    setError(undefined);
    setDone(undefined);
    settle(`Locked ${label(target)}.${target.lockRequired ? "" : " It does not block deploys there: the lock is informational."}`);
  };

  return (
    <main class="page" id="main" aria-busy={apps.data === undefined && apps.error === undefined ? "true" : "false"}>
      <h1>Locks</h1>
      <ErrorNotice error={apps.error} title="Could not load the apps" />
      {apps.data === undefined && apps.error === undefined ? <p class="muted">Loading…</p> : null}
      {apps.data !== undefined ? (
        <p>
          {rows.length} {rows.length === 1 ? "environment" : "environments"}, {locked} locked.{" "}
          <span class="muted">A locked environment refuses new deploys until it is unlocked or the lock expires.</span>
        </p>
      ) : null}
      {admin ? null : <p class="help">Locking and unlocking need an admin token; you are signed in as {session.who.role}.</p>}
      {done ? <Notice tone="good">{done}</Notice> : null}
      <ErrorNotice error={error} />
      {apps.data !== undefined && rows.length === 0 ? <p>The conductor knows no apps yet, so there is nothing to lock.</p> : null}
      {rows.length > 0 ? (
        <div class="table-wrap">
          <table class="grid">
            <caption class="visually-hidden">Locks of every app and environment</caption>
            <thead>
              <tr>
                <th scope="col">Environment</th>
                <th scope="col">Lock</th>
                <th scope="col">By</th>
                <th scope="col">Reason</th>
                <th scope="col">Since</th>
                <th scope="col">Expires</th>
                {admin ? (
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <LockRow key={label(row)} row={row} admin={admin} busy={unlocking === label(row)} onUnlock={() => unlock(row)} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {admin && rows.length > 0 ? <LockForm api={api} targets={rows} onLocked={onLocked} /> : null}
    </main>
  );
}

function LockRow({ row, admin, busy, onUnlock }: { row: Row; admin: boolean; busy: boolean; onUnlock(): void }) {
  const { lock } = row;
  const name = label(row);
  return (
    <tr data-lock={name}>
      <th scope="row" class="mono">
        {name}
      </th>
      <td>
        {lock ? <Badge state="locked" /> : <Badge state="skipped" label="unlocked" />}
        {row.lockRequired ? null : <div class="muted">{lock ? "informational: does not block deploys" : "locks here do not block deploys"}</div>}
      </td>
      <td>{lock ? lock.actor : <span class="muted">—</span>}</td>
      <td>{lock ? lock.reason : <span class="muted">—</span>}</td>
      <td>{lock ? <TimeAgo iso={lock.createdAt} /> : <span class="muted">—</span>}</td>
      <td>{lock ? lock.expiresAt ? <time dateTime={lock.expiresAt}>{dateTime(lock.expiresAt)}</time> : "never" : <span class="muted">—</span>}</td>
      {admin ? (
        <td>
          {lock ? (
            <button type="button" class="danger" aria-label={`Unlock ${name}`} disabled={busy} onClick={onUnlock}>
              {busy ? "Unlocking…" : "Unlock"}
            </button>
          ) : null}
        </td>
      ) : null}
    </tr>
  );
}
