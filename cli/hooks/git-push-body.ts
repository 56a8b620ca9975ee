import { GitError, runGit } from "../../shared/run-git.ts";
import type { BodyInput } from "../../shared/messages/index.ts";

export type GitCommitsBody = BodyInput<"git.commits">;
type Commit = GitCommitsBody["commits"][number];

/** One line of a post-receive hook's input, checked: full hex ids and a valid ref. */
export interface RefUpdate {
  before: string;
  after: string;
  ref: string;
}

export interface PushContext {
  /** The repository (git runs with this cwd; the hook's GIT_DIR, if set, is inherited). */
  cwd: string;
  repo: GitCommitsBody["repo"];
  pusher: GitCommitsBody["pusher"];
  provider: "git-hook";
  maxCommits: number;
  /** Every ref's object id, for "what is new on a created ref" (read once per run). */
  allRefs(): Promise<Map<string, string>>;
}

export const zeroId = /^0+$/;

// Fields of one commit, split by the ASCII unit separator; the message comes last so it may hold anything.
const logFormat = "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%B";

function parseLog(output: string): Commit[] {
  const commits: Commit[] = [];
  for (const record of output.split("\0")) {
    if (!record.trim()) continue;
    const [id, name, email, timestamp, ...message] = record.replace(/^\n/, "").split("\x1f");
    if (!id || !timestamp) continue;
    commits.push({ id, author: { name: name ?? "", email: email || undefined }, timestamp, message: message.join("\x1f").trimEnd() });
  }
  return commits;
}

/**
 * Commits between before and after, newest `maxCommits` kept, oldest first
 * (as GitHub lists them). For a new ref, the commits no other ref has, as
 * git's own post-receive-email shows them.
 */
async function commitsOf(update: RefUpdate, created: boolean, context: PushContext): Promise<{ commits: Commit[]; truncated: boolean }> {
  const limit = `--max-count=${context.maxCommits + 1}`;
  let output: string;
  if (created) {
    const others = [...(await context.allRefs())].filter(([ref]) => ref !== update.ref).map(([, id]) => `^${id}`);
    output = await runGit(["log", "-z", logFormat, limit, "--stdin", "--end-of-options"], {
      cwd: context.cwd,
      input: `${[update.after, ...others].join("\n")}\n`,
    });
  } else {
    output = await runGit(["log", "-z", logFormat, limit, "--end-of-options", `${update.before}..${update.after}`], { cwd: context.cwd });
  }
  const commits = parseLog(output);
  const truncated = commits.length > context.maxCommits;
  return { commits: commits.slice(0, context.maxCommits).reverse(), truncated };
}

/** Whether `before` is not an ancestor of `after`: history was rewritten. */
async function isForced(update: RefUpdate, cwd: string): Promise<boolean> {
  try {
    await runGit(["merge-base", "--is-ancestor", "--end-of-options", update.before, update.after], { cwd });
    return false;
  } catch (err) {
    // Exit 1 is git's "no"; anything else (an object gone missing) is no proof of a fast-forward either.
    if (err instanceof GitError) return true;
    throw err;
  }
}

/** The git.commits.v1 body for one updated ref. */
export async function gitPushBody(update: RefUpdate, context: PushContext): Promise<GitCommitsBody> {
  const created = zeroId.test(update.before);
  const deleted = zeroId.test(update.after);
  const listed = deleted ? { commits: [], truncated: false } : await commitsOf(update, created, context);
  return {
    repo: context.repo,
    ref: update.ref,
    before: update.before,
    after: update.after,
    created,
    deleted,
    forced: !created && !deleted && (await isForced(update, context.cwd)),
    commits: listed.commits,
    // Loose fields: a reader learns the list is cut without a schema change.
    ...(listed.truncated ? { commitsTruncated: true } : {}),
    pusher: context.pusher,
    provider: context.provider,
  };
}
