import type { BodyInputOfName } from "../../shared/messages/index.ts";

/** A `git.commits.v1` body for a plain push of `after` to acme/shop's main; tests override what they are about. */
export function gitPushBody(overrides: Partial<Record<keyof BodyInputOfName<"git.commits">, unknown>> = {}): BodyInputOfName<"git.commits"> {
  return {
    repo: { name: "acme/shop", urls: [] },
    ref: "refs/heads/main",
    before: "1".repeat(40),
    after: "a".repeat(40),
    created: false,
    deleted: false,
    forced: false,
    commits: [],
    pusher: { name: "alice" },
    provider: "github",
    ...overrides,
  } as BodyInputOfName<"git.commits">;
}
