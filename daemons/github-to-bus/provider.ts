import type { BodyInput } from "../../shared/messages/topics.ts";

export const providerNames = ["github", "gitlab", "gitea", "generic"] as const;
export type ProviderName = (typeof providerNames)[number];

/** A request header by name (case-insensitive), as express's req.get() gives it. */
export type HeaderOf = (name: string) => string | undefined;

/** A git.commits.v1 body as a provider payload describes it. */
export type Push = BodyInput<"git.commits">;

export type Interpretation =
  | { kind: "push"; push: Push }
  | { kind: "ping" }
  /** Verified, but nothing deploykit acts on (an issue, a pull request, a branch creation Gitea also sends as a push). */
  | { kind: "ignored"; event: string };

export interface InterpretOptions {
  maxCommits: number;
}

/**
 * One webhook sender. Verification and interpretation are separate because
 * the secret depends on the repository the (not yet trusted) payload names.
 */
export interface Provider {
  name: ProviderName;
  /** For messages: "GitHub", "GitLab", ... */
  title: string;
  /** The repository the payload names, lowercased; only used to pick its secret until verified. */
  repoName(payload: unknown): string | undefined;
  /** Whether the request proves it knows `secret`; compares in constant time. */
  verify(header: HeaderOf, raw: Buffer, secret: string): boolean;
  /** What the provider calls the header that failed, for the 401 message. */
  proofHeader: string;
  /** The sender's id of this delivery, stable across its retries; undefined when it sends none. */
  deliveryId(header: HeaderOf, payload: unknown): string | undefined;
  /** Whether the body may come form-encoded (payload=JSON), as GitHub and Gitea can send it. */
  formEncoded: boolean;
  /** Turns a verified payload into what to do; throws WebhookError(400) on a payload that does not make sense. */
  interpret(header: HeaderOf, payload: unknown, options: InterpretOptions): Interpretation;
}

/** A refusal with its HTTP status; the message is what the sender sees. */
export class WebhookError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "WebhookError";
    this.status = status;
  }
}
