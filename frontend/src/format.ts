// Times and durations as an operator reads them at a glance; the exact time is in each element's title.

export function shortSha(sha: string | null | undefined): string {
  return sha ? sha.slice(0, 10) : "—";
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "never";
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  if (ms < -5_000) return `in ${duration(-ms).replace(/ \d+ s$/, "")}`;
  if (ms < 5_000) return "just now";
  return `${duration(ms).replace(/ \d+ s$/, "")} ago`;
}

// One formatter for the page: toLocaleString with options builds a new one per call, which a 500-host overview felt.
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : dateTimeFormat.format(date);
}

/** "ref (sha)" for what a host runs, or its release id. */
export function releaseLabel(entry: { ref?: string | null; sha?: string | null; release?: string | null } | null | undefined): string {
  if (!entry) return "nothing deployed";
  if (entry.ref) return entry.ref;
  if (entry.sha) return shortSha(entry.sha);
  return entry.release ?? "nothing deployed";
}
