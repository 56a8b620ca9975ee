import type { App, Deploy, Host, Lock } from "../shared/api-types.ts";
import { formatTable } from "./format-table.ts";
import { formatAgo, formatDateTime, formatDuration, formatElapsed, span, type TimeOptions } from "./format-time.ts";
import { sha8 } from "./render-deploy.ts";

// The tables of `status`, `history` and `hosts`: API JSON in, lines out.

export interface ListingOptions extends TimeOptions {
  now: number;
}

/** What runs where, then what is deploying, queued or locked. */
export function renderStatus(apps: readonly App[], options: ListingOptions): string[] {
  const rows: string[][] = [];
  const notes: string[][] = [];
  for (const app of apps) {
    for (const env of app.environments) {
      const where = `${app.name} → ${env.name}`;
      if (env.hosts.length === 0) rows.push([app.name, env.name, "", "", env.current?.ref ?? "", sha8(env.current?.sha), "", ""]);
      for (const host of env.hosts) {
        rows.push([app.name, env.name, host.host, host.release ?? "", host.ref ?? "", sha8(host.sha), host.health ?? "", host.alive ? "alive" : "missing"]);
      }
      if (env.running) notes.push(["running", where, describeRunning(env.running, options.now)]);
      if (env.queued > 0) notes.push(["queued", where, `${env.queued} deploy${env.queued === 1 ? "" : "s"} waiting`]);
      if (env.lock) notes.push(["locked", where, describeLock(env.lock, options)]);
    }
  }
  if (rows.length === 0) return ["no apps: the conductor reads them from its appsDir (see docs/conductor.md)"];
  const lines = formatTable(["APP", "ENV", "HOST", "RELEASE", "REF", "SHA", "HEALTH", "ALIVE"], rows);
  if (notes.length > 0) lines.push("", ...formatTable(["", "", ""], notes).slice(1));
  return lines;
}

function describeRunning(deploy: Deploy, now: number): string {
  const elapsed = span(deploy.startedAt, null, now);
  const what = deploy.action === "rollback" ? `rollback to ${deploy.ref}` : deploy.ref;
  return `#${deploy.number} ${what} (${sha8(deploy.sha)}), deploy ${deploy.id} by ${deploy.actor}${elapsed === undefined ? "" : `, ${formatElapsed(elapsed)}`}`;
}

export function describeLock(lock: Lock, options: TimeOptions): string {
  const until = lock.expiresAt ? `until ${formatDateTime(lock.expiresAt, options)}` : "until unlocked";
  return `by ${lock.actor} ${until}: ${lock.reason}`;
}

/** One deploy per line, newest first as the API gives them. */
export function renderHistory(deploys: readonly Deploy[], options: ListingOptions): string[] {
  if (deploys.length === 0) return ["no deploys match"];
  const rows = deploys.map((d) => {
    const took = span(d.startedAt, d.finishedAt, options.now);
    const state = d.state === "queued" && d.position !== undefined ? `queued (${d.position})` : d.state;
    return [
      String(d.id),
      `${d.app}/${d.environment} #${d.number}`,
      d.action,
      d.ref,
      sha8(d.sha),
      d.actor,
      d.forced ? `${state} (forced)` : state,
      formatDateTime(d.startedAt ?? d.createdAt, options),
      took === undefined ? "" : formatDuration(took),
    ];
  });
  return formatTable(["ID", "DEPLOY", "ACTION", "REF", "SHA", "ACTOR", "STATE", "STARTED", "DURATION"], rows, { right: [0, 8] });
}

/** Every host that ever said hello: alive or missing, and what it runs. */
export function renderHosts(hosts: readonly Host[], options: ListingOptions): string[] {
  if (hosts.length === 0) return ["no hosts yet: each deploy-agent announces itself on hosts.alive when it starts"];
  const rows = [...hosts]
    .sort((a, b) => a.host.localeCompare(b.host))
    .map((h) => [
      h.host,
      h.alive ? "alive" : h.event === "shutdown" ? "missing (shut down)" : "missing",
      formatAgo(h.lastSeen, options.now),
      Object.entries(h.apps ?? {})
        .map(([app, info]) => [app, info.release ?? (info.sha ? sha8(info.sha) : ""), info.health === "failing" ? "(failing)" : ""].filter((part) => part).join(" "))
        .join(", "),
      h.agentVersion,
    ]);
  return formatTable(["HOST", "STATE", "LAST SEEN", "APPS", "AGENT"], rows);
}
