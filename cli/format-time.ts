// Times and durations the way the CLI prints them. `utc` exists for tests and
// for operators comparing with server logs; the default is the local zone.

export interface TimeOptions {
  utc?: boolean;
}

/** "0:37", "12:05", "1:02:03": a running clock. */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

/** "0.4s", "12.3s" under a minute, then like a clock. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  return formatElapsed(ms);
}

/** "12:00:01" */
export function formatClock(iso: string, options: TimeOptions = {}): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const [h, m, s] = options.utc ? [date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()] : [date.getHours(), date.getMinutes(), date.getSeconds()];
  return [h, m, s].map((n) => String(n).padStart(2, "0")).join(":");
}

/** "2026-11-22 12:00" */
export function formatDateTime(iso: string, options: TimeOptions = {}): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const parts = options.utc
    ? [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes()]
    : [date.getFullYear(), date.getMonth() + 1, date.getDate(), date.getHours(), date.getMinutes()];
  const [y, mo, d, h, mi] = parts.map((n) => String(n).padStart(2, "0"));
  return `${y}-${mo}-${d} ${h}:${mi}`;
}

/** "just now", "12s ago", "3m ago", "5h ago", "2d ago". */
export function formatAgo(iso: string, now: number): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const seconds = Math.floor((now - then) / 1000);
  if (seconds < 1) return "just now";
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86_400)}d ago`;
}

/** Milliseconds between two ISO times, the second defaulting to `now`; undefined without a start. */
export function span(from: string | null | undefined, to: string | null | undefined, now: number): number | undefined {
  if (!from) return undefined;
  const start = Date.parse(from);
  const end = to ? Date.parse(to) : now;
  return Number.isNaN(start) || Number.isNaN(end) ? undefined : end - start;
}
