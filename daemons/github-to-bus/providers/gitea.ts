import { z } from "zod";
import { cloneUrls, isZeroId, parsePayload, payloadCommit, person, stringAt, commitList, zeroId } from "../normalize.ts";
import type { HeaderOf, Provider } from "../provider.ts";
import { signatureMatches } from "../verify-signature.ts";

// Gitea and Forgejo send the same payloads (modules/structs/hook.go); Forgejo
// names its headers X-Forgejo-* and also sends the X-Gitea-* ones.

const user = z.looseObject({ login: z.string().nullish(), username: z.string().nullish(), email: z.string().nullish() }).nullish();

const repository = z.looseObject({
  full_name: z.string(),
  clone_url: z.string().nullish(),
  ssh_url: z.string().nullish(),
  object_format_name: z.string().nullish(),
});

const pushPayload = z.looseObject({
  ref: z.string(),
  before: z.string(),
  after: z.string(),
  commits: z.array(payloadCommit).nullish(),
  total_commits: z.number().int().nonnegative().optional(),
  repository,
  pusher: user,
});

// A branch deletion comes only as a delete event (a tag deletion also comes as a push).
const deletePayload = z.looseObject({
  ref: z.string(),
  ref_type: z.string(),
  repository,
  sender: user,
});

function giteaHeader(header: HeaderOf, suffix: string): string | undefined {
  return header(`x-gitea-${suffix}`) ?? header(`x-forgejo-${suffix}`);
}

function repo(r: z.output<typeof repository>) {
  return { name: r.full_name.toLowerCase(), urls: cloneUrls(r.clone_url, r.ssh_url) };
}

function login(u: z.output<typeof user>) {
  return person(u?.login ?? u?.username, u?.email);
}

export const gitea: Provider = {
  name: "gitea",
  title: "Gitea/Forgejo",
  proofHeader: "X-Gitea-Signature",
  formEncoded: true,
  repoName: (payload) => stringAt(payload, "repository", "full_name")?.toLowerCase(),
  verify: (header, raw, secret) => signatureMatches(secret, raw, giteaHeader(header, "signature")),
  deliveryId: (header) => giteaHeader(header, "delivery"),
  interpret(header, payload, { maxCommits }) {
    const event = giteaHeader(header, "event") ?? "";
    if (event === "push") {
      const push = parsePayload(pushPayload, payload, "a Gitea push payload");
      const commits = push.commits ?? [];
      return {
        kind: "push",
        push: {
          repo: repo(push.repository),
          ref: push.ref,
          before: push.before,
          after: push.after,
          created: isZeroId(push.before),
          deleted: isZeroId(push.after),
          // Gitea does not say whether a push was forced.
          forced: false,
          ...commitList(commits, maxCommits, push.total_commits),
          pusher: login(push.pusher),
          provider: "gitea",
        },
      };
    }
    if (event === "delete" && stringAt(payload, "ref_type") === "branch") {
      const deleted = parsePayload(deletePayload, payload, "a Gitea delete payload");
      // The delete event does not carry the commit the branch pointed at.
      const none = zeroId(deleted.repository.object_format_name === "sha256" ? 64 : 40);
      return {
        kind: "push",
        push: {
          repo: repo(deleted.repository),
          ref: `refs/heads/${deleted.ref}`,
          before: none,
          after: none,
          created: false,
          deleted: true,
          forced: false,
          commits: [],
          pusher: login(deleted.sender),
          provider: "gitea",
        },
      };
    }
    return { kind: "ignored", event };
  },
};
