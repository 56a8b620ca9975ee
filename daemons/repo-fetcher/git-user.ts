import { userInfo } from "node:os";
import { lookupUser, type SystemUser, UserLookupError } from "../../shared/lookup-user.ts";

/** Whom git runs as for one mirror, when that is not the daemon's own user. */
export type GitUser = SystemUser;

/**
 * Resolves the `user` of a repository entry through the system's user
 * database. Undefined when it is the daemon's own user: nothing to switch.
 * Only root can run git as someone else, so any other daemon user is refused
 * here, at start, rather than at the first fetch.
 */
export async function gitUser(user: string, repo: string, file: string): Promise<GitUser | undefined> {
  let found: SystemUser;
  try {
    found = await lookupUser(user);
  } catch (err) {
    if (!(err instanceof UserLookupError)) throw err;
    const fix = err.message.endsWith("does not exist on this host") ? ": create it, or change user" : "";
    throw new Error(`repository ${repo} in ${file}: ${err.message}${fix}`);
  }
  const me = userInfo();
  if (found.uid === me.uid) return undefined;
  if (me.uid !== 0) {
    throw new Error(
      `repository ${repo} in ${file}: git should run as "${user}", but repo-fetcher runs as "${me.username}" and only root can run git as another user: run repo-fetcher as root, run it as ${user}, or remove user from the entry`,
    );
  }
  return found;
}
