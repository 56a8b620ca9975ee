import { chown, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { GitError, runGit } from "../run-git.ts";
import type { SystemUser } from "../lookup-user.ts";

// Branches and tags, each forced and pruned: tags are named in a refspec (not
// only through --tags) because git prunes only what a refspec covers, and a
// mirror must lose a deleted tag as it loses a deleted branch.
const refspecs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

// The transports a configured URL may use (clone-url.ts), enforced by git too.
const allowedProtocols = "file:git:http:https:ssh";

export interface MirrorOptions {
  url: string;
  path: string;
  user?: SystemUser;
  timeoutMs: number;
  /** Aborted when the daemon stops: running git is killed. */
  signal: AbortSignal;
}

/** A bare mirror of branches and tags, and the git commands the fetcher runs on it. */
export class Mirror {
  readonly options: MirrorOptions;

  constructor(options: MirrorOptions) {
    this.options = options;
  }

  /** False when the path is missing or an empty directory (Puppet may create it ahead). */
  async exists(): Promise<boolean> {
    try {
      const info = await stat(this.options.path);
      if (!info.isDirectory()) throw new Error(`mirror path ${this.options.path} is not a directory: move it away`);
      return (await readdir(this.options.path)).length > 0;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw err;
    }
  }

  /**
   * Clones a new mirror: into a sibling directory first, renamed into place
   * only once the first fetch worked, so a failed clone never leaves a
   * half-made mirror at the path.
   */
  async create(): Promise<void> {
    const { path, url, user } = this.options;
    const building = `${path}.creating`;
    await rm(building, { recursive: true, force: true });
    await mkdir(dirname(path), { recursive: true });
    await mkdir(building, { mode: 0o755 });
    try {
      if (user) await chown(building, user.uid, user.gid);
      await this.git(["init", "--bare", "--quiet"], building);
      // For people who look at the mirror; the fetcher itself always fetches from the configured URL.
      await this.git(["config", "--end-of-options", "remote.origin.url", url], building);
      await this.git(["config", "--end-of-options", "remote.origin.fetch", refspecs[0] as string], building);
      await this.git(["config", "--add", "--end-of-options", "remote.origin.fetch", refspecs[1] as string], building);
      await this.fetch(building);
      await rename(building, path);
    } catch (err) {
      await rm(building, { recursive: true, force: true });
      throw err;
    }
  }

  async fetch(gitDir = this.options.path): Promise<void> {
    await this.git(["fetch", "--prune", "--tags", "--no-write-fetch-head", "--quiet", "--end-of-options", this.options.url, ...refspecs], gitDir);
  }

  /** Every branch and tag with the object it names. */
  async refs(): Promise<Map<string, string>> {
    const output = await this.git(["for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags"]);
    const refs = new Map<string, string>();
    for (const line of output.split("\n")) {
      const space = line.indexOf(" ");
      if (space > 0) refs.set(line.slice(space + 1), line.slice(0, space));
    }
    return refs;
  }

  /**
   * Resolves revisions (a ref, `ref^{commit}`, an object id) in one git call;
   * each answer is the object id, or undefined when missing. The names travel
   * on stdin, never in argv, and are validated refs and hex ids anyway.
   */
  async lookup(names: readonly string[]): Promise<Map<string, string | undefined>> {
    const found = new Map<string, string | undefined>();
    const unique = [...new Set(names)];
    if (unique.length === 0) return found;
    const output = await this.git(["cat-file", "--batch-check=%(objectname)"], this.options.path, `${unique.join("\n")}\n`);
    const lines = output.split("\n");
    for (const [index, name] of unique.entries()) {
      const line = lines[index] ?? "";
      found.set(name, /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(line) ? line : undefined);
    }
    return found;
  }

  private async git(args: string[], gitDir = this.options.path, input?: string): Promise<string> {
    const { user, timeoutMs, signal } = this.options;
    try {
      return await runGit(args, {
        cwd: gitDir,
        timeoutMs,
        signal,
        input,
        uid: user?.uid,
        gid: user?.gid,
        // GIT_DIR pins the repository: git never wanders up to a repository that holds the mirror directory.
        env: { GIT_DIR: gitDir, GIT_ALLOW_PROTOCOL: allowedProtocols, ...(user ? { HOME: user.home, USER: user.name, LOGNAME: user.name } : {}) },
      });
    } catch (err) {
      // git ends with advice ("Please make sure you have the correct access rights"); the cause is on its fatal: lines.
      if (!(err instanceof GitError) || err.exitCode === undefined) throw err;
      const causes = err.stderr.split("\n").filter((line) => /^(fatal|error): /.test(line));
      if (causes.length === 0) throw err;
      throw new GitError(`git ${args[0]} failed (exit ${err.exitCode}): ${causes.slice(0, 3).join(" / ")}`, err.stderr, err.exitCode);
    }
  }
}
