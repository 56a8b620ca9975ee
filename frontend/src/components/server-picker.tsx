import { useState } from "preact/hooks";
import type { EnvironmentHost, Host } from "../../../shared/api-types.ts";
import { ago, dateTime, releaseLabel } from "../format.ts";
import { Badge } from "./badge.tsx";

/** "web-1" matches by name, "role=web" by fact, anything else by class too. */
export function hostMatches(filter: string, name: string, host: Host | undefined): boolean {
  const text = filter.trim().toLowerCase();
  if (text === "") return true;
  const equals = text.indexOf("=");
  if (equals > 0 && host) {
    const key = text.slice(0, equals).trim();
    const want = text.slice(equals + 1).trim();
    return Object.entries(host.facts).some(([fact, value]) => fact.toLowerCase() === key && String(value).toLowerCase() === want);
  }
  return name.toLowerCase().includes(text) || (host?.classes ?? []).some((c) => c.toLowerCase().includes(text));
}

/** The environment's target hosts, live ones preselected; the filter narrows what Select all/none touch. */
export function ServerPicker({
  targets,
  hosts,
  app,
  selected,
  onChange,
}: {
  targets: EnvironmentHost[];
  hosts: Host[];
  app: string;
  selected: ReadonlySet<string>;
  onChange(next: ReadonlySet<string>): void;
}) {
  const [filter, setFilter] = useState("");
  const byName = new Map(hosts.map((host) => [host.host, host]));
  const visible = targets.filter((target) => hostMatches(filter, target.host, byName.get(target.host)));
  const setAll = (on: boolean) => {
    const next = new Set(selected);
    for (const target of visible) if (target.alive && on) next.add(target.host);
    for (const target of visible) if (!on) next.delete(target.host);
    onChange(next);
  };
  const toggle = (name: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(name);
    else next.delete(name);
    onChange(next);
  };
  return (
    <fieldset>
      <legend>Servers</legend>
      <div class="row">
        <div class="grow">
          <label for="server-filter">Filter servers</label>
          <input id="server-filter" type="search" value={filter} placeholder="web-1 or role=web" autocomplete="off" aria-describedby="server-filter-help" onInput={(event) => setFilter(event.currentTarget.value)} />
        </div>
        <button type="button" onClick={() => setAll(true)}>
          Select all
        </button>
        <button type="button" onClick={() => setAll(false)}>
          Select none
        </button>
      </div>
      <p id="server-filter-help" class="help">
        By name, or fact=value. Select all and Select none apply to the servers shown. {selected.size} of {targets.length} chosen.
      </p>
      {targets.length === 0 ? <p class="muted">No host in this environment's target has announced itself: start a deploy-agent that carries {app}.</p> : null}
      <ul class="choices" aria-label="Servers">
        {visible.map((target) => {
          const id = `host-${target.host}`;
          const host = byName.get(target.host);
          return (
            <li key={target.host}>
              <input type="checkbox" id={id} checked={selected.has(target.host)} disabled={!target.alive} onChange={(event) => toggle(target.host, event.currentTarget.checked)} aria-describedby={`${id}-detail`} />
              <div>
                <label for={id} class="mono">
                  {target.host}
                </label>{" "}
                <span id={`${id}-detail`} class="muted">
                  runs {releaseLabel(target)} · <span title={dateTime(host?.lastSeen)}>seen {ago(host?.lastSeen)}</span>
                </span>{" "}
                {target.alive ? null : <Badge state="missing" title="not heard from recently: it cannot be deployed to" />}
              </div>
            </li>
          );
        })}
      </ul>
    </fieldset>
  );
}
