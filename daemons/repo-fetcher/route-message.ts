import type { BodyOf, Envelope } from "../../shared/messages/index.ts";
import { isValidRef } from "../../shared/messages/fields.ts";
import { cloneUrlKey } from "../../shared/git/clone-url.ts";
import type { Trigger } from "./fetch-queue.ts";
import type { RepoEntry } from "./repos-file.ts";

export type Routing = { routed: { repo: RepoEntry; trigger: Trigger }[] } | { ignored: string };

const hexId = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const zeroId = /^(?:0{40}|0{64})$/;

// A mirror carries branches and tags; pull-request and review refs are not deployed.
function carried(ref: string): boolean {
  return ref.startsWith("refs/heads/") || ref.startsWith("refs/tags/");
}

/** Entries a message is about: by name (the conventions' `owner/name`), or by any clone URL it lists. */
export function matchRepos(repos: readonly RepoEntry[], name: string, urls: readonly string[]): RepoEntry[] {
  const wanted = name.toLowerCase().replace(/\.git$/, "");
  const keys = new Set(urls.map(cloneUrlKey).filter((key) => key !== undefined));
  return repos.filter((repo) => repo.name === wanted || keys.has(cloneUrlKey(repo.url) as string));
}

/**
 * A succeeded build asks every carrying host for its commit, whatever the
 * entry's fetchOn: with fetchOn commit the push already fetched it, and the
 * answer costs one lookup.
 */
export function routeBuild(message: Envelope<BodyOf<"builds">>, repos: readonly RepoEntry[], receivedAt: number): Routing {
  const { phase, repo, ref, sha } = message.body;
  if (phase !== "succeeded") return { ignored: `build ${phase}: only a succeeded build is fetched` };
  if (!repo) return { ignored: "the build names no repository" };
  // The bus validated both already; checked again because they go on to git.
  if (sha !== undefined && !hexId.test(sha)) return { ignored: "refused: sha is not a full hex commit id" };
  if (ref !== undefined && !isValidRef(ref)) return { ignored: "refused: ref is not a valid git ref" };
  if (ref?.startsWith("refs/") && !carried(ref)) return { ignored: `${ref} is neither a branch nor a tag: mirrors carry only those` };
  const matched = matchRepos(repos, repo, [repo]);
  if (matched.length === 0) return { ignored: "not a repository this host carries" };
  const trigger: Trigger = { kind: "build", ref: ref && carried(ref) ? ref : undefined, sha, correlationId: message.correlationId, receivedAt };
  return { routed: matched.map((entry) => ({ repo: entry, trigger })) };
}

/** A push is fetched for entries with fetchOn commit; a deleted branch or tag is pruned everywhere. */
export function routeCommit(message: Envelope<BodyOf<"git.commits">>, repos: readonly RepoEntry[], receivedAt: number): Routing {
  const { repo, ref, after, deleted } = message.body;
  if (!isValidRef(ref)) return { ignored: "refused: ref is not a valid git ref" };
  if (!carried(ref)) return { ignored: `${ref} is neither a branch nor a tag: mirrors carry only those` };
  const matched = matchRepos(repos, repo.name, repo.urls);
  if (matched.length === 0) return { ignored: "not a repository this host carries" };
  const correlationId = message.correlationId;
  if (deleted || zeroId.test(after)) {
    return { routed: matched.map((entry) => ({ repo: entry, trigger: { kind: "deletion", ref, correlationId, receivedAt } })) };
  }
  if (!hexId.test(after)) return { ignored: "after is not a git object id" };
  const onCommit = matched.filter((entry) => entry.fetchOn === "commit");
  if (onCommit.length === 0) return { ignored: "fetchOn is build: waiting for a succeeded build" };
  return { routed: onCommit.map((entry) => ({ repo: entry, trigger: { kind: "commit", ref, sha: after, correlationId, receivedAt } })) };
}
