import { z } from "zod";
import { isZeroId, parsePayload, payloadCommit, person, stringAt, commitList } from "../normalize.ts";
import type { Provider } from "../provider.ts";
import { tokenMatches } from "../verify-signature.ts";

// Our own shape, for anything that is not GitHub, GitLab or Gitea (docs/webhooks.md).
const genericPayload = z.object({
  repo: z.object({ name: z.string(), urls: z.array(z.string()).default([]) }),
  ref: z.string(),
  before: z.string(),
  after: z.string(),
  created: z.boolean().optional(),
  deleted: z.boolean().optional(),
  forced: z.boolean().default(false),
  commits: z.array(payloadCommit).default([]),
  commitsTruncated: z.boolean().optional(),
  pusher: z.object({ name: z.string(), email: z.string().optional() }).optional(),
});

export const generic: Provider = {
  name: "generic",
  title: "generic",
  proofHeader: "Authorization: Bearer",
  formEncoded: false,
  repoName: (payload) => stringAt(payload, "repo", "name")?.toLowerCase(),
  verify(header, _raw, secret) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header("authorization") ?? "");
    return tokenMatches(secret, match?.[1]);
  },
  deliveryId: (header) => header("idempotency-key"),
  interpret(_header, payload, { maxCommits }) {
    const push = parsePayload(genericPayload, payload, "a generic push (see docs/webhooks.md)");
    return {
      kind: "push",
      push: {
        repo: { name: push.repo.name.toLowerCase(), urls: [...new Set(push.repo.urls)] },
        ref: push.ref,
        before: push.before,
        after: push.after,
        created: push.created ?? isZeroId(push.before),
        deleted: push.deleted ?? isZeroId(push.after),
        forced: push.forced,
        ...commitList(push.commits, maxCommits),
        ...(push.commitsTruncated ? { commitsTruncated: true } : {}),
        pusher: push.pusher ? person(push.pusher.name, push.pusher.email) : { name: "" },
        provider: "generic",
      },
    };
  },
};
