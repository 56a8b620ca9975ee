import { isValidRef } from "../../shared/messages/index.ts";
import { GitError, runGit } from "../../shared/run-git.ts";
import type { GitCommitsBody, RefUpdate } from "./git-push-body.ts";

async function maybe(args: string[], cwd: string): Promise<string | undefined> {
  try {
    return await runGit(args, { cwd });
  } catch (err) {
    if (err instanceof GitError) return undefined;
    throw err;
  }
}

export type PostCommitUpdate = { update: RefUpdate; pusher: GitCommitsBody["pusher"] } | { warning: string };

/**
 * A commit as if it had been pushed: the branch HEAD is on, moved from its
 * previous value (the branch's reflog; without one, the first parent; for a
 * first commit, nothing) to the new commit. So an amend reads as a forced
 * update, like a force push would. The committer is the pusher.
 */
export async function postCommitUpdate(cwd: string): Promise<PostCommitUpdate> {
  const ref = await maybe(["symbolic-ref", "-q", "HEAD"], cwd);
  if (!ref) return { warning: "HEAD is detached: a commit on no branch is not reported" };
  if (!isValidRef(ref)) return { warning: `skipped ref ${JSON.stringify(ref.slice(0, 200))}: not a valid git ref` };
  const after = await runGit(["rev-parse", "--verify", "HEAD^{commit}"], { cwd });
  const previous =
    (await maybe(["rev-parse", "--verify", "-q", "--end-of-options", `${ref}@{1}^{commit}`], cwd)) ??
    (await maybe(["rev-parse", "--verify", "-q", "HEAD^1^{commit}"], cwd));
  const before = previous ?? "0".repeat(after.length);
  const [name = "", email = ""] = (await runGit(["log", "-1", "--format=%cn%x1f%ce", "HEAD"], { cwd })).split("\x1f");
  return { update: { before, after, ref }, pusher: email ? { name, email } : { name } };
}
