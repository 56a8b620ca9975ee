import { GitError, runGit } from "../../shared/run-git.ts";
import type { GitCommitsBody } from "./git-push-body.ts";
import { repoName } from "./repo-name.ts";

/** `git config` values that may be unset: git exits 1 for "no such key". */
async function configValues(key: string, cwd: string): Promise<string[]> {
  try {
    const output = await runGit(["config", "--get-all", "--end-of-options", key], { cwd });
    return output.split("\n").filter((line) => line.trim().length > 0);
  } catch (err) {
    if (err instanceof GitError && err.exitCode === 1) return [];
    throw err;
  }
}

/**
 * The repository a hook runs in, as messages name it: `git config
 * deploykit.repo` (or --repo) wins, else its path below a configured root.
 * `git config deploykit.url` (any number of them) gives its clone URLs.
 */
export async function gitRepo(cwd: string, roots: readonly string[], override?: string): Promise<GitCommitsBody["repo"]> {
  const bare = (await runGit(["rev-parse", "--is-bare-repository"], { cwd })) === "true";
  const dir = await runGit(["rev-parse", bare ? "--absolute-git-dir" : "--show-toplevel"], { cwd });
  const [configured] = await configValues("deploykit.repo", cwd);
  return { name: repoName(dir, roots, override || configured), urls: await configValues("deploykit.url", cwd) };
}

/** Who pushed, as the git server tells its hooks (GitLab, Gitea/Forgejo, gitolite), else the account running the hook. */
export function pusherFromEnv(env: NodeJS.ProcessEnv): GitCommitsBody["pusher"] {
  const name = env.GL_USERNAME || env.GITEA_PUSHER_NAME || env.GL_USER || env.USER || env.LOGNAME || "unknown";
  const email = env.GITEA_PUSHER_EMAIL || undefined;
  return email ? { name, email } : { name };
}
