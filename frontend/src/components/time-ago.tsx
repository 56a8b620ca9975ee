import { ago, dateTime } from "../format.ts";

/** "5 min ago", with the exact time in the title and in machine-readable form. */
export function TimeAgo({ iso, prefix = "" }: { iso: string | null | undefined; prefix?: string }) {
  if (!iso) return <span class="muted">never</span>;
  return (
    <time dateTime={iso} title={dateTime(iso)}>
      {prefix}
      {ago(iso)}
    </time>
  );
}
