import { chownSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { runGit } from "../../shared/run-git.ts";
import type { AppConfig } from "./app-config.ts";
import { parseRepoFile, type RepoFile, repoFileName } from "./deploy-plan.ts";
import { type GitSource, SourceError } from "./git-source.ts";
import type { AppRelease, Prepared, ReleaseInfo, Strategy, StrategyContext } from "./strategy.ts";

interface CheckoutState {
  current?: { ref?: string; sha: string; since: string };
  previous?: { ref?: string; sha: string };
}

/** The name the seed's scripts get as `-t TAG`: a tag or branch without its refs/ prefix. */
export function tagOf(ref: string | undefined, sha: string): string {
  if (ref === undefined) return sha;
  return ref.replace(/^refs\/(?:tags|heads)\//, "");
}

/**
 * The seed's way: one site directory, a git working tree checked out in place
 * (`git checkout -f <sha>`) with a TAG file, and pre-deploy.sh / post-deploy.sh
 * in a control directory. Not atomic: a deploy killed during the checkout
 * leaves the site between two commits, which the next deploy repairs. Apps
 * that need the crash guarantee use `release`.
 */
export class CheckoutStrategy implements Strategy {
  readonly name = "checkout" as const;
  readonly app: AppConfig;
  readonly source: GitSource;
  readonly stateFile: string;
  readonly site: string;
  #gitDir: string | undefined;

  constructor(app: AppConfig, source: GitSource, stateDir: string) {
    this.app = app;
    this.source = source;
    this.site = app.site as string;
    this.stateFile = join(stateDir, "checkout", `${app.app}.json`);
  }

  async preflight(context: StrategyContext): Promise<Prepared> {
    const sha = context.request.sha;
    if (sha === undefined) throw new SourceError(`${this.app.app} deploys commits: the request carries no sha`);
    this.#gitDir = await this.source.ensure(sha, context.say);
    if (context.request.ref !== undefined) await this.source.checkRef(this.#gitDir, context.request.ref, sha);
    const gitDir = this.#gitDir;
    const text = await this.source.readFile(gitDir, sha, repoFileName);
    return {
      known: true,
      ...(text === undefined ? {} : { repoFile: parseRepoFile(text, `${repoFileName} at ${sha.slice(0, 12)}`) }),
      executable: async (path) => (await this.source.mode(gitDir, sha, path)) === "100755",
    };
  }

  // The mirror usually belongs to repo-fetcher's user, and git fetch from a
  // local path runs upload-pack without the command line's `-c` settings, so
  // the mirror is declared safe in a global config file of the agent's own,
  // kept in the site's .git where the app user can read it.
  get #safeConfig(): string {
    return join(this.site, ".git", "deploykit-safe.gitconfig");
  }

  async #git(context: StrategyContext, args: string[]): Promise<string> {
    const gitDir = this.#gitDir as string;
    return runGit(["-c", `safe.directory=${this.site}`, "-c", `safe.directory=${gitDir}`, ...args], {
      cwd: this.site,
      timeoutMs: context.timeoutMs,
      signal: context.signal,
      env: { GIT_CONFIG_GLOBAL: this.#safeConfig },
      ...(context.owner ? { uid: context.owner.uid, gid: context.owner.gid } : {}),
    });
  }

  async fetch(context: StrategyContext): Promise<{ release: ReleaseInfo; repoFile: RepoFile | undefined }> {
    const sha = context.request.sha as string;
    const gitDir = this.#gitDir as string;
    if (!existsSync(join(this.site, ".git"))) {
      mkdirSync(this.site, { recursive: true });
      if (context.owner) chownSync(this.site, context.owner.uid, context.owner.gid);
      context.say(`making ${this.site} a git working tree`);
      await this.#git(context, ["init", "--quiet"]);
    }
    const quoted = (path: string) => `"${path.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    writeFileSync(this.#safeConfig, `[safe]\n\tdirectory = ${quoted(gitDir)}\n\tdirectory = ${quoted(this.site)}\n`, { mode: 0o644 });
    context.say(`fetching ${sha.slice(0, 12)} from ${gitDir}`);
    await this.#git(context, ["fetch", "--quiet", "--no-tags", "--end-of-options", gitDir, "+refs/heads/*:refs/remotes/mirror/*", "+refs/tags/*:refs/tags/*"]);
    await this.#git(context, ["cat-file", "-e", "--end-of-options", `${sha}^{commit}`]);
    return { release: this.#info(context.request.ref, sha), repoFile: undefined };
  }

  async link(context: StrategyContext, release: ReleaseInfo): Promise<ReleaseInfo | null> {
    const before = this.#state().current;
    await this.#checkout(context, release);
    this.#writeState({
      current: { ...(release.ref ? { ref: release.ref } : {}), sha: release.sha as string, since: new Date().toISOString() },
      ...(before ? { previous: { ...(before.ref ? { ref: before.ref } : {}), sha: before.sha } } : {}),
    });
    return before ? this.#info(before.ref, before.sha) : null;
  }

  async switchBack(context: StrategyContext, to: ReleaseInfo): Promise<void> {
    this.#gitDir ??= this.site;
    const before = this.#state().current;
    await this.#checkout(context, to);
    this.#writeState({
      current: { ...(to.ref ? { ref: to.ref } : {}), sha: to.sha as string, since: new Date().toISOString() },
      ...(before ? { previous: { ...(before.ref ? { ref: before.ref } : {}), sha: before.sha } } : {}),
    });
  }

  // The sha is validated hex (it cannot be read as an option); git checkout of
  // this git version does not take --end-of-options, so the trailing `--`
  // keeps it a revision.
  async #checkout(context: StrategyContext, release: ReleaseInfo): Promise<void> {
    const sha = release.sha as string;
    if (!/^[0-9a-f]{40,64}$/.test(sha)) throw new SourceError(`refusing to check out ${sha}: not a commit id`);
    context.say(`checking out ${sha.slice(0, 12)} in ${this.site}`);
    await this.#git(context, ["checkout", "--quiet", "--force", "--detach", sha, "--"]);
    const tagFile = join(this.site, "TAG");
    writeFileSync(`${tagFile}.tmp`, `${tagOf(release.ref, sha)}\n`);
    if (context.owner) chownSync(`${tagFile}.tmp`, context.owner.uid, context.owner.gid);
    renameSync(`${tagFile}.tmp`, tagFile);
  }

  abandon(_release: ReleaseInfo): void {
    // Nothing was written outside the site's object store before link.
  }

  markFailed(_release: ReleaseInfo, _step: string, _reason: string): void {
    // The ledger and the result say it; the site has only one tree.
  }

  rollbackTarget(named: string | undefined): ReleaseInfo | null {
    if (named !== undefined) return null;
    const previous = this.#state().previous;
    return previous ? this.#info(previous.ref, previous.sha) : null;
  }

  async repoFileOf(_release: ReleaseInfo): Promise<RepoFile | undefined> {
    const file = join(this.site, repoFileName);
    return existsSync(file) ? parseRepoFile(readFileSync(file, "utf8"), `${repoFileName} in ${this.site}`) : undefined;
  }

  current(): AppRelease {
    const current = this.#state().current;
    if (!current) return { release: null, sha: null, since: null, dir: existsSync(this.site) ? this.site : null };
    return { release: tagOf(current.ref, current.sha), ...(current.ref ? { ref: current.ref } : {}), sha: current.sha, since: current.since, dir: this.site };
  }

  prune(_keep: number): string[] {
    return [];
  }

  #info(ref: string | undefined, sha: string): ReleaseInfo {
    return { release: tagOf(ref, sha), dir: this.site, sha, ...(ref ? { ref } : {}) };
  }

  #state(): CheckoutState {
    try {
      return JSON.parse(readFileSync(this.stateFile, "utf8")) as CheckoutState;
    } catch {
      return {};
    }
  }

  #writeState(state: CheckoutState): void {
    mkdirSync(dirname(this.stateFile), { recursive: true, mode: 0o700 });
    writeFileSync(`${this.stateFile}.tmp`, JSON.stringify(state));
    renameSync(`${this.stateFile}.tmp`, this.stateFile);
  }
}
