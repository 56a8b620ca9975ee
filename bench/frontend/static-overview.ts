// The competitor: the same overview as one server-rendered HTML document
// with no JavaScript at all, served by a bare node:http server. Its markup
// follows the web UI's (header, one section per app and environment, one
// <tr data-host> per host, the same badges) and carries the UI's own
// stylesheet inline, so the browser lays out and paints the same page: the
// difference is what the UI's JavaScript, its two API calls and its
// rendering cost. Built from the conductor's GET /api/v1/apps answer, so both
// sides show exactly the same data.
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { App, AppEnvironment, EnvironmentHost, WhoAmI } from "../../shared/api-types.ts";

const symbols: Record<string, { tone: string; symbol: string }> = {
  ok: { tone: "good", symbol: "✓" },
  alive: { tone: "good", symbol: "●" },
  missing: { tone: "warn", symbol: "○" },
  locked: { tone: "warn", symbol: "🔒" },
  differs: { tone: "warn", symbol: "≠" },
  running: { tone: "busy", symbol: "●" },
  queued: { tone: "muted", symbol: "…" },
};

const escapes: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (text: string) => text.replace(/[&<>"']/g, (c) => escapes[c] as string);

function badge(state: string, label = state): string {
  const look = symbols[state] ?? { tone: "muted", symbol: "?" };
  return `<span class="badge tone-${look.tone}" data-state="${esc(state)}"><span aria-hidden="true">${look.symbol}</span> ${esc(label)}</span>`;
}

function ago(iso: string | null | undefined, now: number): string {
  if (!iso) return "never";
  const minutes = Math.round((now - Date.parse(iso)) / 60_000);
  if (minutes < 1) return "just now";
  return minutes < 60 ? `${minutes} min ago` : `${Math.floor(minutes / 60)} h ${minutes % 60} min ago`;
}

/** As the web UI decides it: the environment's last successful deploy, else what most of its hosts run. */
function expectedSha(environment: AppEnvironment): string | null {
  if (environment.current) return environment.current.sha;
  const counts = new Map<string, number>();
  for (const host of environment.hosts) if (host.sha) counts.set(host.sha, (counts.get(host.sha) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
}

function hostRow(host: EnvironmentHost, differing: boolean): string {
  return (
    `<tr data-host="${esc(host.host)}"${differing ? ' class="differs"' : ""}><th scope="row" class="mono">${esc(host.host)}</th>` +
    `<td><span title="${esc(host.sha ?? "")}">${esc(host.ref ?? host.release ?? "nothing deployed")}</span> ${differing ? badge("differs") : ""}</td>` +
    `<td>${badge(host.health ?? "unknown")}</td><td>${badge(host.alive ? "alive" : "missing")}</td></tr>`
  );
}

function section(app: App, environment: AppEnvironment, now: number): string {
  const id = `env-${app.name}-${environment.name}`;
  const expected = expectedSha(environment);
  const differs = (host: EnvironmentHost) => expected !== null && host.sha !== expected;
  const differing = environment.hosts.filter(differs).length;
  const lines: string[] = [];
  lines.push(
    `<section class="panel" data-app="${esc(app.name)}" data-environment="${esc(environment.name)}" aria-labelledby="${esc(id)}">`,
    `<div class="row"><h2 id="${esc(id)}" class="card-title">${esc(app.name)} / ${esc(environment.name)}</h2>` +
      `${environment.lock ? badge("locked") : ""}` +
      `<a class="card-action" href="#/deploy?app=${encodeURIComponent(app.name)}&amp;env=${encodeURIComponent(environment.name)}">Deploy<span class="visually-hidden"> ${esc(app.name)} / ${esc(environment.name)}</span></a></div>`,
  );
  lines.push(
    environment.current
      ? `<p class="card-line">Current: <strong>${esc(environment.current.ref)}</strong> <span class="muted mono" title="${esc(environment.current.sha)}">${esc(environment.current.sha.slice(0, 10))}</span> <a href="#/deploys/${environment.current.deployId}">deployed ${ago(environment.current.finishedAt, now)}</a></p>`
      : `<p class="card-line"><span class="muted">Nothing deployed yet</span></p>`,
  );
  if (environment.running) lines.push(`<p class="card-line">${badge("running")} <a href="#/deploys/${environment.running.id}">Deploy #${environment.running.number} running</a></p>`);
  if (environment.queued > 0) lines.push(`<p class="card-line">${badge("queued", `${environment.queued} queued`)}</p>`);
  if (environment.lock) lines.push(`<p class="card-line">Locked by <strong>${esc(environment.lock.actor)}</strong>: ${esc(environment.lock.reason)}</p>`);
  lines.push(
    `<div class="table-wrap"><table class="grid"><caption class="visually-hidden">Hosts of ${esc(app.name)} / ${esc(environment.name)}${differing > 0 ? `, ${differing} differing` : ""}</caption>`,
    `<thead><tr><th scope="col">Host</th><th scope="col">Release</th><th scope="col">Health</th><th scope="col">Agent</th></tr></thead><tbody>`,
    ...environment.hosts.map((host) => hostRow(host, differs(host))),
    "</tbody></table></div></section>",
  );
  return lines.join("\n");
}

export function staticOverviewHtml(apps: readonly App[], who: WhoAmI, css: string, now = Date.now()): string {
  const environments = apps.reduce((n, app) => n + app.environments.length, 0);
  const nav = ["Overview", "Deploy", "History", "Hosts", "Locks"]
    .map((label) => `<li><a href="#/${label === "Overview" ? "" : label.toLowerCase()}"${label === "Overview" ? ' aria-current="page"' : ""}>${label}</a></li>`)
    .join("");
  return [
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light dark"><title>Overview · deploykit</title><link rel="icon" href="data:,">',
    `<style>${css}</style></head><body><div id="app">`,
    '<a class="skip" href="#main">Skip to content</a>',
    `<header class="top"><a class="brand" href="#/">deploykit</a><nav aria-label="Main"><ul>${nav}</ul></nav>`,
    `<div class="who"><span>${esc(who.name)} <span class="role">(${esc(who.role)})</span></span></div></header>`,
    '<main class="page" id="main" aria-busy="false"><h1>Overview</h1>',
    `<p class="muted">${apps.length} apps, ${environments} environments</p><div class="grid-cards">`,
    ...apps.flatMap((app) => app.environments.map((environment) => section(app, environment, now))),
    "</div></main></div></body></html>",
  ].join("\n");
}

export interface StaticServer {
  url: string;
  bytes: number;
  close(): Promise<void>;
}

/** Serves the document at every path, revalidated like the UI's index.html (no-cache, with an ETag). */
export async function serveStatic(html: string): Promise<StaticServer> {
  const body = Buffer.from(html);
  const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
  const server = createServer((request, response) => {
    response.setHeader("Cache-Control", "no-cache");
    response.setHeader("ETag", etag);
    if (request.headers["if-none-match"] === etag) {
      response.writeHead(304).end();
      return;
    }
    response.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Content-Length": body.byteLength }).end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    bytes: body.byteLength,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
