import { userInfo } from "node:os";
import { execa } from "execa";

/** Whom git runs as for one mirror, when that is not the daemon's own user. */
export interface GitUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/**
 * Resolves the `user` of a repository entry through the system's user
 * database (getent, so LDAP and other NSS sources count). Undefined when it is
 * the daemon's own user: nothing to switch. Only root can run git as someone
 * else, so any other daemon user is refused here, at start, rather than at
 * the first fetch.
 */
export async function gitUser(user: string, repo: string, file: string): Promise<GitUser | undefined> {
  const result = await execa("getent", ["passwd", user], { reject: false, timeout: 10_000 });
  if (result.exitCode === 2) throw new Error(`repository ${repo} in ${file}: user "${user}" does not exist on this host: create it, or change user`);
  if (result.exitCode !== 0 || result.failed) {
    throw new Error(`repository ${repo} in ${file}: cannot look up user "${user}" (getent passwd: ${result.stderr || result.shortMessage})`);
  }
  const fields = String(result.stdout).split("\n")[0]?.split(":") ?? [];
  const [name, , uid, gid, , home] = fields;
  if (name === undefined || uid === undefined || gid === undefined || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) {
    throw new Error(`repository ${repo} in ${file}: getent passwd ${user} gave an entry that cannot be read: ${result.stdout}`);
  }
  const me = userInfo();
  if (Number(uid) === me.uid) return undefined;
  if (me.uid !== 0) {
    throw new Error(
      `repository ${repo} in ${file}: git should run as "${user}", but repo-fetcher runs as "${me.username}" and only root can run git as another user: run repo-fetcher as root, run it as ${user}, or remove user from the entry`,
    );
  }
  return { name, uid: Number(uid), gid: Number(gid), home: home || "/" };
}
