import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as tar from "tar";
import { GitError, runGit } from "../../shared/run-git.ts";
import { Mirror } from "../../shared/git/mirror.ts";
import type { AppConfig } from "./app-config.ts";

export class SourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SourceError";
  }
}

export interface GitSourceOptions {
  app: AppConfig;
  /** repo-fetcher's mirrors. */
  mirrorDir: string;
  /** The agent's own mirrors, fetched from the app's url when no other mirror has the commit. */
  ownMirrorDir: string;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Where an app's commits come from: repo-fetcher's mirror (read only, never
 * fetched by the agent), an explicit mirror path, or, when neither has the
 * commit and the app gives a url, a mirror of the agent's own. Every git call
 * gets outside values after `--end-of-options`, and the mirror is trusted for
 * this call only (`safe.directory`), as it usually belongs to repo-fetcher's user.
 */
export class GitSource {
  readonly options: GitSourceOptions;

  constructor(options: GitSourceOptions) {
    this.options = options;
  }

  /** The mirrors to look in, in order. */
  candidates(): string[] {
    const { app, mirrorDir } = this.options;
    const found: string[] = [];
    if (app.mirror !== undefined) found.push(app.mirror);
    if (app.repo !== undefined) found.push(join(mirrorDir, `${app.repo}.git`));
    if (app.url !== undefined) found.push(this.ownMirror());
    return found;
  }

  ownMirror(): string {
    return join(this.options.ownMirrorDir, `${this.options.app.app}.git`);
  }

  async git(gitDir: string, args: string[]): Promise<string> {
    return runGit(["-c", `safe.directory=${gitDir}`, `--git-dir=${gitDir}`, ...args], { timeoutMs: this.options.timeoutMs, signal: this.options.signal });
  }

  async hasCommit(gitDir: string, sha: string): Promise<boolean> {
    if (!existsSync(gitDir)) return false;
    try {
      await this.git(gitDir, ["cat-file", "-e", "--end-of-options", `${sha}^{commit}`]);
      return true;
    } catch (err) {
      if (err instanceof GitError && err.exitCode !== undefined) return false;
      throw err;
    }
  }

  /** The first mirror that has the commit, without fetching anything. */
  async find(sha: string): Promise<string | undefined> {
    for (const gitDir of this.candidates()) if (await this.hasCommit(gitDir, sha)) return gitDir;
    return undefined;
  }

  /** The mirror that has the commit, fetching the agent's own mirror from the app's url when needed. */
  async ensure(sha: string, onLine: (text: string) => void): Promise<string> {
    const found = await this.find(sha);
    if (found) return found;
    const { app } = this.options;
    if (app.url === undefined) {
      throw new SourceError(`commit ${sha} is not in ${this.candidates().join(" or ")}: has repo-fetcher fetched it? (or give the app a url to fetch from)`);
    }
    const mirror = new Mirror({ url: app.url, path: this.ownMirror(), timeoutMs: this.options.timeoutMs, signal: this.options.signal ?? new AbortController().signal });
    try {
      if (await mirror.exists()) {
        onLine(`fetching ${app.app} into ${this.ownMirror()}`);
        await mirror.fetch();
      } else {
        onLine(`cloning ${app.app} into ${this.ownMirror()}`);
        await mirror.create();
      }
    } catch (err) {
      throw new SourceError(`cannot fetch ${app.app}: ${(err as Error).message}`);
    }
    if (!(await this.hasCommit(this.ownMirror(), sha))) throw new SourceError(`commit ${sha} is not in the repository at ${app.url}`);
    return this.ownMirror();
  }

  /**
   * The request's sha must be what its ref names in the mirror: the tag's
   * commit, or for a branch its tip or an ancestor of it (the branch may have
   * moved on since the conductor resolved it). Anything else is refused.
   */
  async checkRef(gitDir: string, ref: string, sha: string): Promise<void> {
    let resolved: string;
    try {
      resolved = await this.git(gitDir, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${ref}^{commit}`]);
    } catch (err) {
      if (err instanceof GitError && err.exitCode !== undefined) throw new SourceError(`ref ${ref} does not exist in ${gitDir}`);
      throw err;
    }
    if (resolved === sha) return;
    const branch = ref.startsWith("refs/heads/") || (!ref.startsWith("refs/") && (await this.exists(gitDir, `refs/heads/${ref}`)));
    if (branch) {
      try {
        await this.git(gitDir, ["merge-base", "--is-ancestor", "--end-of-options", sha, resolved]);
        return;
      } catch (err) {
        if (!(err instanceof GitError && err.exitCode === 1)) throw err;
      }
      throw new SourceError(`commit ${sha} is not on branch ${ref} (its tip is ${resolved})`);
    }
    throw new SourceError(`ref ${ref} is ${resolved} here, not ${sha}: refusing a commit its ref does not name`);
  }

  private async exists(gitDir: string, ref: string): Promise<boolean> {
    try {
      await this.git(gitDir, ["show-ref", "--verify", "--quiet", "--end-of-options", ref]);
      return true;
    } catch {
      return false;
    }
  }

  /** A file of the commit, or undefined when it has none at that path. */
  async readFile(gitDir: string, sha: string, path: string): Promise<string | undefined> {
    const mode = await this.mode(gitDir, sha, path);
    if (mode === undefined) return undefined;
    return this.git(gitDir, ["cat-file", "blob", "--end-of-options", `${sha}:${path}`]);
  }

  /** The git file mode of a path in the commit (100755 is executable), or undefined when missing. */
  async mode(gitDir: string, sha: string, path: string): Promise<string | undefined> {
    const line = await this.git(gitDir, ["ls-tree", "--end-of-options", sha, "--", path]);
    return line === "" ? undefined : line.split(" ")[0];
  }

  /** Writes the commit's tree into dest (an empty directory), owned by uid/gid when given. */
  async export(gitDir: string, sha: string, dest: string, owner?: { uid: number; gid: number }): Promise<void> {
    const git = spawn("git", ["-c", `safe.directory=${gitDir}`, `--git-dir=${gitDir}`, "archive", "--format=tar", "--end-of-options", sha], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { LC_ALL: "C", GIT_CONFIG_NOSYSTEM: "1", PATH: process.env.PATH ?? "/usr/bin:/bin" },
      signal: this.options.signal,
    });
    let stderr = "";
    git.stderr.on("data", (chunk: Buffer) => {
      if (stderr.length < 4096) stderr += chunk.toString("utf8");
    });
    const exited = new Promise<number | null>((resolve, reject) => {
      git.on("error", reject);
      git.on("close", (code) => resolve(code));
    });
    const extract = tar.x({ cwd: dest, preserveOwner: false, ...(owner ? { uid: owner.uid, gid: owner.gid } : {}) });
    const extracted = new Promise<void>((resolve, reject) => {
      extract.on("error", reject);
      extract.on("finish", resolve);
      extract.on("close", resolve);
    });
    git.stdout.pipe(extract);
    let code: number | null;
    try {
      [code] = await Promise.all([exited, extracted]);
    } catch (err) {
      git.kill("SIGKILL");
      throw new SourceError(`git archive ${sha} failed: ${(err as Error).message}`);
    }
    if (code !== 0) throw new SourceError(`git archive ${sha} failed (exit ${code}): ${stderr.trim() || "no message"}`);
  }
}
