/** The stable error codes of the REST API (docs/conductor-api.md). */
export const apiErrorCodes = {
  "invalid-request": 400,
  "invalid-ref": 400,
  unauthenticated: 401,
  forbidden: 403,
  "not-found": 404,
  locked: 409,
  "not-running": 409,
  "nothing-to-roll-back": 409,
  "unknown-ref": 422,
  "ci-gate": 422,
  "no-hosts": 422,
  internal: 500,
  "repository-unavailable": 503,
} as const;

export type ApiErrorCode = keyof typeof apiErrorCodes;

/** A refusal with its stable code: the API answers it as `{ error: { code, message } }` with the code's status. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;

  constructor(code: ApiErrorCode, message: string) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = apiErrorCodes[code];
  }
}
