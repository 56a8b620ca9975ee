import { z } from "zod";
import { cloneUrls, parsePayload, payloadCommit, person, stringAt, commitList } from "../normalize.ts";
import type { Provider } from "../provider.ts";
import { signatureMatches } from "../verify-signature.ts";

// https://docs.github.com/en/webhooks/webhook-events-and-payloads#push
const pushPayload = z.looseObject({
  ref: z.string(),
  before: z.string(),
  after: z.string(),
  created: z.boolean(),
  deleted: z.boolean(),
  forced: z.boolean(),
  commits: z.array(payloadCommit),
  repository: z.looseObject({ full_name: z.string(), clone_url: z.string().nullish(), ssh_url: z.string().nullish() }),
  pusher: z.looseObject({ name: z.string(), email: z.string().nullish() }),
});

export const github: Provider = {
  name: "github",
  title: "GitHub",
  proofHeader: "X-Hub-Signature-256",
  formEncoded: true,
  repoName: (payload) => stringAt(payload, "repository", "full_name")?.toLowerCase(),
  verify(header, raw, secret) {
    const signature = header("x-hub-signature-256");
    return signature?.startsWith("sha256=") === true && signatureMatches(secret, raw, signature.slice("sha256=".length));
  },
  deliveryId: (header) => header("x-github-delivery"),
  interpret(header, payload, { maxCommits }) {
    const event = header("x-github-event") ?? "";
    if (event === "ping") return { kind: "ping" };
    if (event !== "push") return { kind: "ignored", event };
    const push = parsePayload(pushPayload, payload, "a GitHub push payload");
    return {
      kind: "push",
      push: {
        repo: { name: push.repository.full_name.toLowerCase(), urls: cloneUrls(push.repository.clone_url, push.repository.ssh_url) },
        ref: push.ref,
        before: push.before,
        after: push.after,
        created: push.created,
        deleted: push.deleted,
        forced: push.forced,
        ...commitList(push.commits, maxCommits),
        pusher: person(push.pusher.name, push.pusher.email),
        provider: "github",
      },
    };
  },
};
