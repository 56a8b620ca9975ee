import { useState } from "preact/hooks";
import type { Ref } from "../../../shared/api-types.ts";
import { shortSha } from "../format.ts";
import { Badge } from "./badge.tsx";
import { ErrorNotice } from "./notice.tsx";

const shown = 25;

/** Tags newest first, then branches, each with its CI build status; a filter finds older ones. */
export function RefPicker({ refs, error, value, onChange, onRefresh }: { refs: Ref[] | undefined; error: unknown; value: string; onChange(ref: string): void; onRefresh(): void }) {
  const [filter, setFilter] = useState("");
  const [all, setAll] = useState(false);
  const matching = (refs ?? []).filter((ref) => ref.name.toLowerCase().includes(filter.trim().toLowerCase()));
  const visible = all || filter ? matching : matching.slice(0, shown);
  return (
    <fieldset>
      <legend>Version</legend>
      <div class="row">
        <div class="grow">
          <label for="ref-filter">Filter versions</label>
          <input id="ref-filter" type="search" value={filter} onInput={(event) => setFilter(event.currentTarget.value)} placeholder="v1.2" autocomplete="off" />
        </div>
        <button type="button" onClick={onRefresh}>
          Fetch new versions
        </button>
      </div>
      <ErrorNotice error={error} title="Could not list the versions" />
      {refs === undefined && error === undefined ? <p role="status">Listing versions…</p> : null}
      {refs !== undefined && matching.length === 0 ? <p class="muted">{refs.length === 0 ? "The repository has no tags or branches yet." : "No version matches the filter."}</p> : null}
      <ul class="choices" aria-label="Versions, newest first">
        {visible.map((ref) => {
          const id = `ref-${ref.kind}-${ref.name}`;
          return (
            <li key={id}>
              <input type="radio" id={id} name="ref" value={ref.name} checked={value === ref.name} onChange={() => onChange(ref.name)} />
              <label for={id}>
                <span class="mono">{ref.name}</span> <span class="muted">{ref.kind}</span>{" "}
                <Badge state={ref.build} label={`build ${ref.build}`} title={ref.jobs.map((job) => `${job.job}: ${job.phase}${job.number === null ? "" : ` #${job.number}`}`).join(", ") || "no CI build seen for this commit"} />{" "}
                <span class="muted mono" title={ref.sha}>
                  {shortSha(ref.sha)}
                </span>
              </label>
            </li>
          );
        })}
      </ul>
      {!all && !filter && matching.length > shown ? (
        <button type="button" class="link" onClick={() => setAll(true)}>
          Show all {matching.length} versions
        </button>
      ) : null}
    </fieldset>
  );
}
