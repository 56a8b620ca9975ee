import { z } from "zod";
import { describeIssues } from "../../shared/bus/envelope-codec.ts";
import { type Push, WebhookError } from "./provider.ts";

// What the providers' push payloads have in common, and the checks every
// outside value passes before it can reach a message.

const segment = /^[a-z0-9_.][a-z0-9_.-]*$/;

/** owner/name, lowercased, as the repository's path on its git server (GitLab subgroups give more segments). */
export function isRepoName(value: string): boolean {
  if (value.length === 0 || value.length > 255) return false;
  return value.split("/").every((part) => segment.test(part) && part !== "." && part !== "..");
}

const scpLike = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$/;

/** An https, ssh or scp-like (git@host:path) clone URL that git cannot mistake for an option. */
export function isCloneUrl(value: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters and spaces have no place in a clone URL
  if (value.length > 2048 || value.startsWith("-") || /[\x00-\x20\x7f]/.test(value)) return false;
  if (scpLike.test(value)) return true;
  try {
    return ["https:", "http:", "ssh:", "git:"].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** The all-zeros id git uses for "no commit": 40 digits, or 64 in a SHA-256 repository. */
export function zeroId(length: 40 | 64 = 40): string {
  return "0".repeat(length);
}

export function isZeroId(id: string): boolean {
  return /^(?:0{40}|0{64})$/.test(id);
}

/** A commit as GitHub, GitLab and Gitea all describe it in a push payload. */
export const payloadCommit = z.looseObject({
  id: z.string(),
  message: z.string().nullish(),
  timestamp: z.string(),
  url: z.string().nullish(),
  author: z.looseObject({ name: z.string().nullish(), email: z.string().nullish() }).nullish(),
});

export type PayloadCommit = z.output<typeof payloadCommit>;

/** A commit message past this is cut, so one huge message cannot push the message past the broker's frame limit. */
export const maxMessageLength = 16 * 1024;

/**
 * The newest `max` commits (providers list them oldest first) in the
 * message's shape, and commitsTruncated when the push had more than the
 * message lists (cut here, or already by the provider, as GitLab does past 20),
 * as the git hooks mark theirs.
 */
export function commitList(list: readonly PayloadCommit[], max: number, total = list.length): { commits: Push["commits"]; commitsTruncated?: true } {
  const commits = list.slice(Math.max(0, list.length - max)).map((commit) => {
    const message = commit.message ?? "";
    return {
      id: commit.id,
      message: message.length > maxMessageLength ? `${message.slice(0, maxMessageLength)}…` : message,
      author: { name: commit.author?.name ?? "", ...(commit.author?.email ? { email: commit.author.email } : {}) },
      timestamp: commit.timestamp,
      ...(commit.url ? { url: commit.url } : {}),
    };
  });
  return { commits, ...(Math.max(total, list.length) > commits.length ? { commitsTruncated: true as const } : {}) };
}

/** A person as the message carries one; an empty or redacted email is left out. */
export function person(name: string | null | undefined, email: string | null | undefined): Push["pusher"] {
  return { name: name ?? "", ...(email?.includes("@") ? { email } : {}) };
}

/** Clone URLs that are set, once each. */
export function cloneUrls(...candidates: (string | null | undefined)[]): string[] {
  return [...new Set(candidates.filter((url): url is string => typeof url === "string" && url.length > 0))];
}

/** Parses a payload with a provider's schema, or refuses it with 400 naming what is wrong. */
export function parsePayload<S extends z.ZodType>(schema: S, payload: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(payload);
  if (!parsed.success) throw new WebhookError(400, `not ${what}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** The value at payload[key1][key2]... when it is a string. */
export function stringAt(payload: unknown, ...path: string[]): string | undefined {
  let value = payload;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return typeof value === "string" ? value : undefined;
}
