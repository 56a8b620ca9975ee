import { z } from "zod";
import { cloneUrls, isZeroId, parsePayload, payloadCommit, person, stringAt, commitList } from "../normalize.ts";
import type { Provider } from "../provider.ts";
import { tokenMatches } from "../verify-signature.ts";

// https://docs.gitlab.com/user/project/integrations/webhook_events/#push-events (and #tag-events)
const pushPayload = z.looseObject({
  object_kind: z.enum(["push", "tag_push"]),
  ref: z.string(),
  before: z.string(),
  after: z.string(),
  user_name: z.string().nullish(),
  user_username: z.string().nullish(),
  user_email: z.string().nullish(),
  project: z.looseObject({ path_with_namespace: z.string(), git_http_url: z.string().nullish(), git_ssh_url: z.string().nullish() }),
  commits: z.array(payloadCommit),
  total_commits_count: z.number().int().nonnegative().optional(),
});

const pushEvents = new Set(["Push Hook", "Tag Push Hook"]);

export const gitlab: Provider = {
  name: "gitlab",
  title: "GitLab",
  proofHeader: "X-Gitlab-Token",
  formEncoded: false,
  repoName: (payload) => stringAt(payload, "project", "path_with_namespace")?.toLowerCase(),
  verify: (header, _raw, secret) => tokenMatches(secret, header("x-gitlab-token")),
  deliveryId(header, payload) {
    // Idempotency-Key (GitLab 17.4+) stays the same across retries and resends of one delivery.
    // X-Gitlab-Event-UUID is shared by every hook one push triggers, one per branch, so the ref
    // has to go with it.
    const idempotencyKey = header("idempotency-key");
    if (idempotencyKey) return idempotencyKey;
    const eventUuid = header("x-gitlab-event-uuid");
    return eventUuid ? `${eventUuid} ${stringAt(payload, "ref") ?? ""}` : undefined;
  },
  interpret(header, payload, { maxCommits }) {
    const event = header("x-gitlab-event") ?? "";
    const kind = stringAt(payload, "object_kind");
    // A system hook carries the same push payload under its own event name.
    const isPush = pushEvents.has(event) || (event === "System Hook" && (kind === "push" || kind === "tag_push"));
    if (!isPush) return { kind: "ignored", event };
    const push = parsePayload(pushPayload, payload, "a GitLab push payload");
    // GitLab does not say whether a push was forced.
    return {
      kind: "push",
      push: {
        repo: { name: push.project.path_with_namespace.toLowerCase(), urls: cloneUrls(push.project.git_http_url, push.project.git_ssh_url) },
        ref: push.ref,
        before: push.before,
        after: push.after,
        created: isZeroId(push.before),
        deleted: isZeroId(push.after),
        forced: false,
        ...commitList(push.commits, maxCommits, push.total_commits_count),
        pusher: person(push.user_username ?? push.user_name, push.user_email),
        provider: "gitlab",
      },
    };
  },
};
