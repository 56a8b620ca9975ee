import { useState } from "preact/hooks";
import type { Host, HostApp } from "../../../shared/api-types.ts";
import type { PageProps } from "../app.tsx";
import { Badge } from "../components/badge.tsx";
import { ErrorNotice } from "../components/notice.tsx";
import { hostMatches } from "../components/server-picker.tsx";
import { TimeAgo } from "../components/time-ago.tsx";
import { dateTime, releaseLabel } from "../format.ts";
import { useLoad } from "../use-load.ts";

/** Facts shown in a row; the rest are in the cell's title, and the filter still finds them. */
const factsShown = 6;

/** Every host that has announced itself: is its agent alive, what it is, and what it runs. */
export function HostsPage({ session }: PageProps) {
  const hosts = useLoad((signal) => session.api.hosts(signal), [session], 10_000);
  const [filter, setFilter] = useState("");
  const list = [...(hosts.data ?? [])].sort((a, b) => a.host.localeCompare(b.host));
  const visible = list.filter((host) => matches(filter, host));
  const alive = list.filter((host) => host.alive).length;
  return (
    <main class="page" id="main" aria-busy={hosts.data === undefined && hosts.error === undefined ? "true" : "false"}>
      <h1>Hosts</h1>
      <ErrorNotice error={hosts.error} title="Could not load the hosts" />
      {hosts.data === undefined && hosts.error === undefined ? <p class="muted">Loading hosts…</p> : null}
      {hosts.data !== undefined ? (
        <p>
          {list.length} {list.length === 1 ? "host" : "hosts"}, {alive} alive, {list.length - alive} missing
        </p>
      ) : null}
      <div>
        <label for="host-filter">Filter hosts</label>
        <input id="host-filter" type="search" value={filter} placeholder="web-1, role=web, a class or an app" autocomplete="off" aria-describedby="host-filter-help" onInput={(event) => setFilter(event.currentTarget.value)} />
        <p id="host-filter-help" class="help">
          By name, fact=value, class, or the name of an app it carries.
          {filter.trim() !== "" ? ` ${visible.length} of ${list.length} shown.` : ""}
        </p>
      </div>
      {hosts.data !== undefined && list.length === 0 ? (
        <p>No host has announced itself yet: start a deploy-agent and it shows up here within a few seconds.</p>
      ) : null}
      {list.length > 0 && visible.length === 0 ? <p class="muted">No host matches the filter.</p> : null}
      {visible.length > 0 ? (
        <div class="table-wrap">
          <table class="grid">
            <caption class="visually-hidden">Hosts, by name</caption>
            <thead>
              <tr>
                <th scope="col">Host</th>
                <th scope="col">Agent</th>
                <th scope="col">Last seen</th>
                <th scope="col">Facts</th>
                <th scope="col">Apps</th>
              </tr>
            </thead>
            <tbody>
              {visible.map((host) => (
                <HostRow key={host.host} host={host} />
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </main>
  );
}

function matches(filter: string, host: Host): boolean {
  if (hostMatches(filter, host.host, host)) return true;
  const text = filter.trim().toLowerCase();
  return !text.includes("=") && Object.keys(host.apps).some((app) => app.toLowerCase().includes(text));
}

function HostRow({ host }: { host: Host }) {
  const facts = Object.entries(host.facts).map(([key, value]) => `${key}=${factText(value)}`);
  const apps = Object.entries(host.apps).sort(([a], [b]) => a.localeCompare(b));
  return (
    <tr data-host={host.host}>
      <th scope="row" class="mono">
        {host.host}
      </th>
      <td>
        <Badge state={host.alive ? "alive" : "missing"} title={agentTitle(host)} />
        {!host.alive && host.event === "shutdown" ? <span class="muted"> shut down</span> : null}
      </td>
      <td>
        <TimeAgo iso={host.lastSeen} />
      </td>
      <td>
        {facts.length === 0 ? (
          <span class="muted">none</span>
        ) : (
          <ul class="compact mono" title={facts.length > factsShown ? facts.slice(factsShown).join("\n") : undefined}>
            {facts.slice(0, factsShown).map((fact) => (
              <li key={fact}>{fact}</li>
            ))}
            {facts.length > factsShown ? (
              <li>
                <span aria-hidden="true">…</span>
                <span class="visually-hidden">and {facts.slice(factsShown).join(", ")}</span>
              </li>
            ) : null}
          </ul>
        )}
        {host.classes.length > 0 ? <div class="muted">classes: {host.classes.join(", ")}</div> : null}
      </td>
      <td>
        {apps.length === 0 ? (
          <span class="muted">none</span>
        ) : (
          <ul class="compact">
            {apps.map(([name, app]) => (
              <AppLine key={name} name={name} app={app} />
            ))}
          </ul>
        )}
      </td>
    </tr>
  );
}

function AppLine({ name, app }: { name: string; app: HostApp }) {
  const runs = app.ref || app.sha || app.release ? `${releaseLabel(app)}${app.release && app.ref ? ` (${app.release})` : ""}` : "nothing deployed";
  return (
    <li data-app={name}>
      <strong>{name}</strong>: <span title={app.sha ?? undefined}>{runs}</span>
      {app.health === "failing" ? (
        <>
          {" "}
          <Badge state="failing" label="health failing" />
        </>
      ) : null}
    </li>
  );
}

function agentTitle(host: Host): string {
  const version = host.agentVersion ? `agent ${host.agentVersion}` : "agent";
  if (host.alive) return `${version}, first seen ${dateTime(host.firstSeen)}`;
  if (host.event === "shutdown") return `${version} said shutdown at ${dateTime(host.lastSeen)}`;
  return `${version} not heard from since ${dateTime(host.lastSeen)} (last event: ${host.event})`;
}

function factText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") {
    const text = JSON.stringify(value);
    return text.length > 40 ? `${text.slice(0, 39)}…` : text;
  }
  return String(value);
}
