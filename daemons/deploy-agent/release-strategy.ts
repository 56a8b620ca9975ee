import { chownSync, existsSync, lstatSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type AppConfig, appDir } from "./app-config.ts";
import { parseRepoFile, type RepoFile, repoFileName } from "./deploy-plan.ts";
import { fetchArtifact } from "./fetch-artifact.ts";
import { type GitSource, SourceError } from "./git-source.ts";
import { type ReleaseMeta, ReleaseStore } from "./release-store.ts";
import type { AppRelease, Prepared, ReleaseInfo, Strategy, StrategyContext } from "./strategy.ts";

export interface ReleaseStrategyOptions {
  app: AppConfig;
  source: GitSource;
  /** Where artifacts are downloaded before extraction. */
  downloadDir: string;
  maxArtifactBytes: number;
}

/** The deploykit.yml a release directory carries, if any. */
export function readRepoFileIn(dir: string, where: string): RepoFile | undefined {
  const file = join(dir, repoFileName);
  if (!existsSync(file)) return undefined;
  return parseRepoFile(readFileSync(file, "utf8"), where);
}

/**
 * `release` (a commit exported from a mirror) and `artifact` (a tar.gz
 * downloaded and checked): both write `<root>/<app>/releases/<id>` and switch
 * `current` atomically, through the crash-safe ReleaseStore.
 */
export class ReleaseStrategy implements Strategy {
  readonly name: "release" | "artifact";
  readonly store: ReleaseStore;
  readonly options: ReleaseStrategyOptions;
  #gitDir: string | undefined;

  constructor(options: ReleaseStrategyOptions) {
    this.options = options;
    this.name = options.app.strategy === "artifact" ? "artifact" : "release";
    this.store = new ReleaseStore(appDir(options.app));
  }

  async preflight(context: StrategyContext): Promise<Prepared> {
    const { request } = context;
    if (this.name === "artifact") {
      if (request.artifact === undefined) throw new SourceError(`${context.app.app} deploys artifacts: the request carries no artifact (url and sha256)`);
      return { known: false };
    }
    const sha = request.sha;
    if (sha === undefined) throw new SourceError(`${context.app.app} deploys commits: the request carries no sha`);
    this.#gitDir = await this.options.source.find(sha);
    if (this.#gitDir === undefined) {
      if (context.app.url === undefined) await this.options.source.ensure(sha, context.say);
      context.say(`commit ${sha} is not in a local mirror yet: the fetch step fetches it from the app's url`);
      return { known: false };
    }
    const gitDir = this.#gitDir;
    const repoFile = await this.#checked(context, gitDir, sha);
    return { known: true, ...(repoFile ? { repoFile } : {}), executable: async (path) => (await this.options.source.mode(gitDir, sha, path)) === "100755" };
  }

  async #checked(context: StrategyContext, gitDir: string, sha: string): Promise<RepoFile | undefined> {
    const { source } = this.options;
    if (context.request.ref !== undefined) await source.checkRef(gitDir, context.request.ref, sha);
    context.say(`commit ${sha.slice(0, 12)} found in ${gitDir}${context.request.ref ? ` and named by ${context.request.ref}` : ""}`);
    const text = await source.readFile(gitDir, sha, repoFileName);
    return text === undefined ? undefined : parseRepoFile(text, `${repoFileName} at ${sha.slice(0, 12)}`);
  }

  async fetch(context: StrategyContext): Promise<{ release: ReleaseInfo; repoFile: RepoFile | undefined }> {
    const { request } = context;
    mkdirSync(this.store.appDir, { recursive: true });
    if (context.owner) chownSync(this.store.appDir, context.owner.uid, context.owner.gid);
    let repoFile: RepoFile | undefined;
    let gitDir: string | undefined;
    if (this.name === "release") {
      const sha = request.sha as string;
      if (this.#gitDir === undefined) {
        gitDir = await this.options.source.ensure(sha, context.say);
        repoFile = await this.#checked(context, gitDir, sha);
      } else {
        gitDir = this.#gitDir;
      }
    }
    const hex = this.name === "release" ? request.sha : request.artifact?.sha256;
    const id = this.store.newId(hex);
    const partial = this.store.begin(id);
    const release: ReleaseInfo = { release: id, dir: this.store.path(id), ...(request.ref ? { ref: request.ref } : {}), ...(request.sha ? { sha: request.sha } : {}) };
    try {
      if (context.owner) chownSync(partial, context.owner.uid, context.owner.gid);
      if (gitDir !== undefined) {
        context.say(`exporting ${(request.sha as string).slice(0, 12)} into releases/${id}`);
        await this.options.source.export(gitDir, request.sha as string, partial, context.owner);
      } else {
        const artifact = request.artifact as { url: string; sha256: string };
        mkdirSync(this.options.downloadDir, { recursive: true, mode: 0o700 });
        await fetchArtifact({
          url: artifact.url,
          sha256: artifact.sha256,
          dest: partial,
          tmpDir: this.options.downloadDir,
          maxBytes: this.options.maxArtifactBytes,
          timeoutMs: context.timeoutMs,
          inactivityMs: context.inactivityMs,
          signal: context.signal,
          ...(context.owner ? { uid: context.owner.uid, gid: context.owner.gid } : {}),
          onLine: context.say,
        });
        repoFile = readRepoFileIn(partial, `${repoFileName} in the artifact`);
      }
      const meta: ReleaseMeta = {
        id,
        deployId: request.deployId,
        createdAt: new Date().toISOString(),
        ...(request.ref ? { ref: request.ref } : {}),
        ...(request.sha ? { sha: request.sha } : {}),
        ...(request.artifact ? { artifact: { url: request.artifact.url, sha256: request.artifact.sha256 } } : {}),
      };
      this.store.commit(meta);
    } catch (err) {
      this.store.abandon(id);
      throw err;
    }
    return { release, repoFile };
  }

  async link(_context: StrategyContext, release: ReleaseInfo): Promise<ReleaseInfo | null> {
    const { previous } = this.store.switchTo(release.release);
    return previous === null ? null : this.#info(previous);
  }

  async switchBack(_context: StrategyContext, to: ReleaseInfo): Promise<void> {
    this.store.switchTo(to.release);
  }

  abandon(release: ReleaseInfo): void {
    this.store.abandon(release.release);
  }

  markFailed(release: ReleaseInfo, step: string, reason: string): void {
    this.store.markFailed(release.release, step, reason);
  }

  rollbackTarget(named: string | undefined): ReleaseInfo | null {
    if (named === undefined) {
      const previous = this.store.previous();
      return previous === null ? null : this.#info(previous.id);
    }
    return this.store.meta(named) === null || !existsSync(this.store.path(named)) ? null : this.#info(named);
  }

  async repoFileOf(release: ReleaseInfo): Promise<RepoFile | undefined> {
    return readRepoFileIn(release.dir, `${repoFileName} in releases/${release.release}`);
  }

  current(): AppRelease {
    const meta = this.store.current();
    if (meta === null) return { release: null, sha: null, since: null, dir: null };
    let since: string | null = null;
    try {
      // `current` is a fresh symlink each switch: its own mtime is when it was switched.
      since = lstatSync(join(this.store.appDir, "current")).mtime.toISOString();
    } catch {
      since = null;
    }
    return { release: meta.id, ...(meta.ref ? { ref: meta.ref } : {}), sha: meta.sha ?? meta.artifact?.sha256 ?? null, since, dir: this.store.path(meta.id) };
  }

  prune(keep: number): string[] {
    return this.store.prune(keep);
  }

  #info(id: string): ReleaseInfo {
    const meta = this.store.meta(id);
    return { release: id, dir: this.store.path(id), ...(meta?.ref ? { ref: meta.ref } : {}), ...(meta?.sha ? { sha: meta.sha } : {}) };
  }
}
