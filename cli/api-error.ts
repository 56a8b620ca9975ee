import { CliError } from "./cli-error.ts";

/**
 * Exit status per error code of the conductor's API (sysexits.h numbers), so a
 * script can tell "fix your input" from "try again later" from "not allowed".
 */
export const apiExitCodes = {
  "invalid-request": 65,
  "invalid-ref": 65,
  "unknown-ref": 65,
  "ci-gate": 65,
  "no-hosts": 65,
  "not-running": 65,
  "nothing-to-roll-back": 65,
  "not-found": 66,
  unauthenticated: 77,
  forbidden: 77,
  locked: 75,
  // The conductor cannot fetch the app's repository just now.
  "repository-unavailable": 75,
  internal: 70,
} as const satisfies Record<string, number>;

/** The conductor could not be reached, or answered something that is not its API (a proxy's 502 page). */
export const unreachableExitCode = 69;
/** The conductor answered, but not in the documented shape. */
export const protocolExitCode = 76;

/** An error the conductor answered with: its stable code and HTTP status, for commands that react to one. */
export class ApiError extends CliError {
  readonly status: number;
  readonly code: string;
  constructor(message: string, status: number, code: string, exitCode: number) {
    super(message, exitCode);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

const hints: Partial<Record<string, string>> = {
  unauthenticated:
    "pass a token with --token, DEPLOYKIT_TOKEN, --token-file or DEPLOYKIT_TOKEN_FILE (deploykit up writes an admin token to <data-dir>/admin.token)",
  internal: "this is a bug in the conductor: its log says more",
};

/** Turns a non-2xx answer into the CliError the operator sees. `text` is the raw body. */
export function apiError(status: number, statusText: string, text: string, url: string): ApiError {
  const parsed = errorBody(text);
  if (!parsed) {
    // Not the conductor speaking: a proxy, a wrong --server, an old conductor.
    const snippet = text.replace(/\s+/g, " ").trim().slice(0, 200);
    const exit = status >= 500 ? unreachableExitCode : status === 401 || status === 403 ? 77 : protocolExitCode;
    return new ApiError(
      `${url} answered ${status} ${statusText}${snippet ? `: ${snippet}` : ""}; is --server the conductor's address?`,
      status,
      "",
      exit,
    );
  }
  const { code, message } = parsed;
  const exit = exitCodeFor(status, code);
  // A 403 needs no hint: the conductor's message names the role the token has and the one it needs.
  const hint = hints[code] ?? (status === 401 ? hints.unauthenticated : undefined);
  return new ApiError(`${message}${hint ? `; ${hint}` : ""} (${code})`, status, code, exit);
}

/** The documented code decides; codes this CLI does not know yet fall back on the HTTP status. */
export function exitCodeFor(status: number, code: string): number {
  if (Object.hasOwn(apiExitCodes, code)) return apiExitCodes[code as keyof typeof apiExitCodes];
  if (status === 401 || status === 403) return 77;
  if (status === 404) return 66;
  if (status === 409 || status === 429 || status === 503) return 75;
  if (status >= 500) return 70;
  return 65;
}

function errorBody(text: string): { code: string; message: string } | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  const error = (body as { error?: unknown } | null)?.error as { code?: unknown; message?: unknown } | undefined;
  if (typeof error?.code !== "string" || typeof error.message !== "string") return undefined;
  return { code: error.code, message: error.message };
}
