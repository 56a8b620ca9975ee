import { join } from "node:path";
import type { Logger } from "pino";
import { Mirror } from "../../shared/git/mirror.ts";
import { isValidRef } from "../../shared/messages/fields.ts";
import type { ConductorApp } from "./app-catalog.ts";

export interface AppRef {
  name: string;
  kind: "tag" | "branch";
  /** The commit: an annotated tag is peeled to what it tags. */
  sha: string;
}

export interface ResolvedRef {
  ref: string;
  kind: "tag" | "branch" | "sha";
  sha: string;
}

export interface AppReposOptions {
  /** Each app's mirror is `<mirrorDir>/<app>.git`. */
  mirrorDir: string;
  fetchTimeout: number;
  /** Aborted when the conductor stops: running git is killed. */
  signal: AbortSignal;
  log: Logger;
}

/** A ref from outside that is no valid git ref name; it never reached git. */
export class InvalidRefError extends Error {
  readonly ref: string;
  constructor(ref: string) {
    super(`${JSON.stringify(ref)} is not a valid git ref name (see git check-ref-format; it may not start with '-'): give a tag, a branch or a full commit sha`);
    this.name = "InvalidRefError";
    this.ref = ref;
  }
}

const fullSha = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * The conductor's own bare mirror of each app's repository: it lists what
 * people may deploy and turns the ref they pick into a commit sha before any
 * agent hears of it.
 */
export class AppRepos {
  readonly options: AppReposOptions;
  // One git operation that writes an app's mirror at a time; callers arriving meanwhile share its outcome.
  private readonly running = new Map<string, Promise<void>>();

  constructor(options: AppReposOptions) {
    // An empty one would put every mirror in the working directory, wherever the daemon was started.
    if (options.mirrorDir === "") throw new Error("the conductor's mirror directory is empty: set conductor.mirrorDir (or data.dir, under which it defaults to conductor/mirrors)");
    this.options = options;
  }

  /** Creates the app's mirror when it is missing; an existing one is left as it is. */
  async ensure(app: ConductorApp): Promise<void> {
    const running = this.running.get(app.app);
    if (running) await running.catch(() => {});
    if (await this.mirror(app).exists()) return;
    await this.fetch(app);
  }

  /** Fetches the app's mirror (creating it when missing); a caller arriving during a fetch waits for that one. */
  fetch(app: ConductorApp): Promise<void> {
    const running = this.running.get(app.app);
    if (running) return running;
    const work = this.update(app).finally(() => this.running.delete(app.app));
    this.running.set(app.app, work);
    return work;
  }

  /** Tags, newest version first, then branches by name; each with the commit it names. */
  async refs(app: ConductorApp): Promise<AppRef[]> {
    await this.ensure(app);
    const mirror = this.mirror(app);
    const names = [...(await mirror.refs()).keys()];
    // One cat-file call peels every ref, annotated tags (and tags of tags) down to their commit.
    const commits = await mirror.lookup(names.map((ref) => `${ref}^{commit}`));
    const tags: AppRef[] = [];
    const branches: AppRef[] = [];
    for (const ref of names) {
      const sha = commits.get(`${ref}^{commit}`);
      // A tag of a tree or a blob names nothing deployable.
      if (sha === undefined) continue;
      if (ref.startsWith("refs/tags/")) tags.push({ name: ref.slice("refs/tags/".length), kind: "tag", sha });
      else if (ref.startsWith("refs/heads/")) branches.push({ name: ref.slice("refs/heads/".length), kind: "branch", sha });
    }
    tags.sort((a, b) => compareVersions(b.name, a.name));
    branches.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return [...tags, ...branches];
  }

  /**
   * The commit a ref names: a full sha that is a commit here, else the tag,
   * else the branch of that name. A ref the mirror lacks is fetched for once
   * (it may have been pushed since the last fetch); undefined when it is still
   * missing. An invalid ref throws InvalidRefError before any git runs.
   */
  async resolve(app: ConductorApp, ref: string): Promise<ResolvedRef | undefined> {
    if (!isValidRef(ref)) throw new InvalidRefError(ref);
    await this.ensure(app);
    const found = await this.find(app, ref);
    if (found) return found;
    this.options.log.debug({ app: app.app, ref }, "ref not in the mirror: fetching once");
    await this.fetch(app);
    return this.find(app, ref);
  }

  private async find(app: ConductorApp, ref: string): Promise<ResolvedRef | undefined> {
    const tag = `refs/tags/${ref}^{commit}`;
    const branch = `refs/heads/${ref}^{commit}`;
    // Names go to git on stdin (Mirror.lookup); only full ids are looked up bare, never an abbreviation git would guess at.
    const names = fullSha.test(ref) ? [ref, `${ref}^{commit}`, tag, branch] : [tag, branch];
    const ids = await this.mirror(app).lookup(names);
    // The id itself must be a commit: a tag object's id peels to one, but is not one.
    const commit = ids.get(`${ref}^{commit}`);
    if (commit !== undefined && ids.get(ref) === commit) return { ref, kind: "sha", sha: commit };
    const tagged = ids.get(tag);
    if (tagged !== undefined) return { ref, kind: "tag", sha: tagged };
    const branched = ids.get(branch);
    if (branched !== undefined) return { ref, kind: "branch", sha: branched };
    return undefined;
  }

  private async update(app: ConductorApp): Promise<void> {
    const mirror = this.mirror(app);
    const started = Date.now();
    const creating = !(await mirror.exists());
    if (creating) await mirror.create();
    else await mirror.fetch();
    this.options.log.info({ app: app.app, durationMs: Date.now() - started }, creating ? "mirror created" : "mirror fetched");
  }

  // Built per call, so an app whose url changed in apps.d fetches from the new one into the same mirror.
  private mirror(app: ConductorApp): Mirror {
    const { mirrorDir, fetchTimeout, signal } = this.options;
    return new Mirror({ url: app.url, path: join(mirrorDir, `${app.app}.git`), timeoutMs: fetchTimeout, signal });
  }
}

/**
 * Version order as `git tag --sort=v:refname` sees it: runs of digits compare
 * as numbers (v1.10.0 after v1.9.0). One difference on purpose: a name that
 * goes on from another with `-` is its pre-release (v2.0.0-rc1 before v2.0.0).
 */
export function compareVersions(a: string, b: string): number {
  if (b.startsWith(a) && b[a.length] === "-") return 1;
  if (a.startsWith(b) && a[b.length] === "-") return -1;
  const partsA = a.match(/\d+|\D+/g) ?? [];
  const partsB = b.match(/\d+|\D+/g) ?? [];
  for (let index = 0; index < Math.min(partsA.length, partsB.length); index++) {
    const x = partsA[index] as string;
    const y = partsB[index] as string;
    if (x === y) continue;
    const numeric = /^\d/.test(x) && /^\d/.test(y);
    if (numeric) {
      const difference = BigInt(x) - BigInt(y);
      if (difference !== 0n) return difference < 0n ? -1 : 1;
      // Same number written differently (07 and 7): fall back to text, so the order stays total.
    }
    return x < y ? -1 : 1;
  }
  return partsA.length - partsB.length;
}
