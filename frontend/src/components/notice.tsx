import type { ComponentChildren } from "preact";
import { ApiError } from "../api.ts";

/** A refusal or failure, said plainly: what the conductor answered, with its code. */
export function ErrorNotice({ error, title }: { error: unknown; title?: string }) {
  if (error === undefined || error === null) return null;
  const code = error instanceof ApiError ? error.code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div class="notice tone-bad" role="alert">
      <strong>{title ?? (code ? refusalTitle(code) : "Something went wrong")}</strong>
      {code ? <span class="code"> ({code})</span> : null}: {message}
    </div>
  );
}

export function refusalTitle(code: string): string {
  switch (code) {
    case "locked":
      return "Locked";
    case "ci-gate":
      return "The CI gate has not passed";
    case "no-hosts":
      return "No servers to deploy to";
    case "unknown-ref":
      return "No such version";
    case "invalid-ref":
      return "Not a valid version name";
    case "forbidden":
      return "Not allowed";
    case "repository-unavailable":
      return "The repository cannot be reached";
    case "unreachable":
      return "The conductor is not answering";
    case "nothing-to-roll-back":
      return "Nothing to roll back to";
    case "not-running":
      return "Already finished";
    default:
      return "Refused";
  }
}

export function Notice({ tone, children }: { tone: "good" | "warn" | "bad" | "muted" | "busy"; children: ComponentChildren }) {
  return (
    <div class={`notice tone-${tone}`} role="status">
      {children}
    </div>
  );
}
