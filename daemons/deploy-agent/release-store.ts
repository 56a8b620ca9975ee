import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import {
  compareReleaseIds, currentTmpName, exists, fsyncDir, isReleaseId, lstatOrNull, metaName, metaTmpName, partialName, readdirOrEmpty, removeRelease, removingName, splitId, writeFileDurably,
} from "./release-files.ts";

export { compareReleaseIds, isReleaseId } from "./release-files.ts";

export interface ReleaseMeta {
  id: string;
  deployId: string;
  ref?: string;
  sha?: string;
  artifact?: { url: string; sha256: string };
  /** ISO-8601. */
  createdAt: string;
  failed?: { at: string; step: string; reason: string };
}

export class ReleaseStoreError extends Error {}

/** The text of `<appDir>/current`, or null when it is not a symlink. */
export function currentTarget(appDir: string): string | null {
  try {
    return readlinkSync(join(appDir, "current"));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EINVAL") return null;
    throw err;
  }
}

/**
 * The releases of one app on this host and the `current` symlink. Every
 * change is ordered so that a process killed at any instant leaves `current`
 * on a complete release (tree and metadata), and recover() removes the rest.
 */
export class ReleaseStore {
  readonly appDir: string;
  readonly #releases: string;

  constructor(appDir: string) {
    this.appDir = resolve(appDir);
    this.#releases = join(this.appDir, "releases");
  }

  path(id: string): string {
    return join(this.#releases, checkId(id));
  }

  /**
   * A new id for a release made now. Once any release of that second exists
   * the id gets the next `-N`, even with another hex, so ids made in one
   * second still sort in the order they were made.
   */
  newId(hexId: string | undefined, now = new Date()): string {
    const hex = hexId === undefined ? randomBytes(6).toString("hex") : hexId.toLowerCase().slice(0, 12);
    if (!/^[0-9a-f]{12}$/.test(hex)) {
      throw new ReleaseStoreError(`cannot name a release after ${JSON.stringify(hexId)}: pass a commit sha or an artifact sha256 (at least 12 hex digits)`);
    }
    const time = now.toISOString().replace(/\.\d+Z$/, "Z").replace(/[-:]/g, "");
    let highest = 0;
    for (const taken of this.#takenIds()) {
      const [takenTime, suffix] = splitId(taken);
      if (takenTime === time) highest = Math.max(highest, suffix);
    }
    return highest === 0 ? `${time}-${hex}` : `${time}-${hex}-${highest + 1}`;
  }

  begin(id: string): string {
    const partial = this.#partial(checkId(id));
    if (exists(this.path(id)) || exists(this.#metaPath(id))) {
      throw new ReleaseStoreError(`release ${id} already exists in ${this.#releases}: take a new id from newId()`);
    }
    mkdirSync(this.#releases, { recursive: true });
    chmodSync(this.#releases, this.#dirMode());
    try {
      mkdirSync(partial);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      throw new ReleaseStoreError(`${partial} already exists: another deploy is writing release ${id}, or a crashed one left it (restart the agent to clean up)`);
    }
    chmodSync(partial, this.#dirMode());
    return partial;
  }

  commit(meta: ReleaseMeta): string {
    const id = checkId(meta.id);
    checkMeta(meta, id);
    const partial = this.#partial(id);
    const tree = this.path(id);
    if (!lstatOrNull(partial)?.isDirectory()) throw new ReleaseStoreError(`cannot commit release ${id}: ${partial} is missing (call begin() first)`);
    if (exists(tree) || exists(this.#metaPath(id))) throw new ReleaseStoreError(`cannot commit release ${id}: it already exists in ${this.#releases}`);
    // The tree's files must be on disk before anything can point at them, or a power cut could leave current on empty files.
    execFileSync("sync", ["-f", partial], { stdio: "ignore" });
    this.#writeMeta(meta);
    try {
      renameSync(partial, tree);
    } catch (err) {
      rmSync(this.#metaPath(id), { force: true });
      throw err;
    }
    fsyncDir(this.#releases);
    return tree;
  }

  /** Removes what begin() and commit() made; the tree and metadata of the current release stay. */
  abandon(id: string): void {
    checkId(id);
    rmSync(this.#partial(id), { recursive: true, force: true });
    if (this.#currentLink() === id) return;
    this.#remove(id);
  }

  switchTo(id: string): { previous: string | null } {
    checkId(id);
    if (!this.#isComplete(id)) throw new ReleaseStoreError(`cannot switch ${this.appDir} to release ${id}: it is not a complete release (tree and metadata) in ${this.#releases}`);
    const previous = this.currentId();
    const link = join(this.appDir, "current");
    const tmp = join(this.appDir, `current.tmp-${randomBytes(6).toString("hex")}`);
    // Relative, so the app directory can be moved or bind-mounted elsewhere and still resolve.
    symlinkSync(join("releases", id), tmp);
    try {
      renameSync(tmp, link);
    } catch (err) {
      rmSync(tmp, { force: true });
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EISDIR" || code === "ENOTEMPTY" || code === "EEXIST") {
        throw new ReleaseStoreError(`${link} is a directory, not a symlink: move it away so deploykit can manage it as a link to a release`);
      }
      throw err;
    }
    fsyncDir(this.appDir);
    return { previous };
  }

  currentId(): string | null {
    const id = this.#currentLink();
    return id !== null && this.#isComplete(id) ? id : null;
  }

  current(): ReleaseMeta | null {
    const id = this.currentId();
    return id === null ? null : this.meta(id);
  }

  meta(id: string): ReleaseMeta | null {
    const file = this.#metaPath(checkId(id));
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
    try {
      const meta = JSON.parse(text) as ReleaseMeta;
      checkMeta(meta, id);
      return meta;
    } catch (err) {
      throw new ReleaseStoreError(`release metadata ${file} is unreadable (${(err as Error).message}): fix it, or remove it and releases/${id} together`);
    }
  }

  /** Complete releases, oldest first. */
  list(): ReleaseMeta[] {
    const metas: ReleaseMeta[] = [];
    for (const name of this.#entries()) {
      if (!isReleaseId(name) || !this.#isComplete(name)) continue;
      const meta = this.meta(name);
      if (meta) metas.push(meta);
    }
    return metas.sort((a, b) => compareReleaseIds(a.id, b.id));
  }

  /** The release a rollback goes back to. */
  previous(): ReleaseMeta | null {
    const current = this.currentId();
    if (current === null) return null;
    const older = this.list().filter((meta) => !meta.failed && compareReleaseIds(meta.id, current) < 0);
    return older.at(-1) ?? null;
  }

  markFailed(id: string, step: string, reason: string): void {
    const meta = this.meta(id);
    if (!meta) throw new ReleaseStoreError(`cannot mark release ${id} failed: it has no metadata in ${this.#releases}`);
    this.#writeMeta({ ...meta, failed: { at: new Date().toISOString(), step, reason } });
  }

  prune(keep: number): string[] {
    if (!Number.isInteger(keep) || keep < 1) throw new ReleaseStoreError(`cannot keep ${keep} releases: keep at least 1`);
    const current = this.currentId();
    const releases = this.list();
    const excess = releases.length - keep;
    if (excess <= 0) return [];
    const candidates = releases.filter((meta) => meta.id !== current);
    const doomed = [...candidates.filter((meta) => meta.failed), ...candidates.filter((meta) => !meta.failed)].slice(0, excess).map((meta) => meta.id);
    for (const id of doomed) this.#remove(id);
    return doomed;
  }

  /**
   * Run at start, before any deploy: removes what a killed agent left half
   * made. A tree without metadata that `current` points at is kept (the app
   * runs from it) and reported in `warnings` for the caller to log.
   */
  recover(): { removed: string[]; current: string | null; warnings: string[] } {
    const removed: string[] = [];
    const warnings: string[] = [];
    for (const name of readdirOrEmpty(this.appDir)) {
      if (currentTmpName.test(name) && !lstatOrNull(join(this.appDir, name))?.isDirectory()) {
        rmSync(join(this.appDir, name), { force: true });
        removed.push(name);
      }
    }
    const linked = this.#currentLink();
    const entries = this.#entries();
    const names = new Set(entries);
    for (const name of entries) {
      const full = join(this.#releases, name);
      const stale =
        partialName.test(name) ||
        removingName.test(name) ||
        metaTmpName.test(name) ||
        (metaName.test(name) && !lstatOrNull(join(this.#releases, name.slice(0, -".json".length)))?.isDirectory()) ||
        (isReleaseId(name) && !names.has(`${name}.json`) && name !== linked && !!lstatOrNull(full)?.isDirectory());
      if (!stale) continue;
      rmSync(full, { recursive: true, force: true });
      removed.push(name);
    }
    if (removed.length > 0) {
      if (entries.length > 0) fsyncDir(this.#releases);
      fsyncDir(this.appDir);
    }
    const current = this.currentId();
    if (linked !== null && current === null) {
      warnings.push(`${join(this.appDir, "current")} points at release ${linked}, which is not complete (tree or metadata missing): deploy or roll back to repair it`);
    } else if (linked === null && currentTarget(this.appDir) !== null) {
      warnings.push(`${join(this.appDir, "current")} points outside ${this.#releases}: deploykit will replace it on the next deploy`);
    }
    return { removed, current, warnings };
  }

  /** The id `current` names, complete or not; null when it is missing or names something else. */
  #currentLink(): string | null {
    const target = currentTarget(this.appDir);
    if (target === null) return null;
    const full = isAbsolute(target) ? target : resolve(this.appDir, target);
    const id = full.slice(this.#releases.length + 1);
    return full.startsWith(`${this.#releases}/`) && isReleaseId(id) ? id : null;
  }

  #isComplete(id: string): boolean {
    return !!lstatOrNull(this.path(id))?.isDirectory() && !!lstatOrNull(this.#metaPath(id))?.isFile();
  }

  #remove(id: string): void {
    removeRelease({ tree: this.path(id), meta: this.#metaPath(id), aside: join(this.#releases, `${id}.removing`) });
  }

  #writeMeta(meta: ReleaseMeta): void {
    writeFileDurably(this.#metaPath(meta.id), `${JSON.stringify(meta, null, 2)}\n`, this.#dirMode() & 0o644);
  }

  /** Releases are as readable as the app directory, whatever the daemon's umask, but only the agent writes them. */
  #dirMode(): number {
    return (statSync(this.appDir).mode & 0o755) | 0o700;
  }

  #partial(id: string): string {
    return join(this.#releases, `${id}.partial`);
  }

  #metaPath(id: string): string {
    return join(this.#releases, `${id}.json`);
  }

  #entries(): string[] {
    return readdirOrEmpty(this.#releases);
  }

  /** Every id in use by a release in any state, so newId() never reuses one. */
  #takenIds(): Set<string> {
    const ids = new Set<string>();
    for (const name of this.#entries()) {
      const id = name.split(".")[0] as string;
      if (isReleaseId(id)) ids.add(id);
    }
    return ids;
  }
}

function checkId(id: string): string {
  if (!isReleaseId(id)) throw new ReleaseStoreError(`release id ${JSON.stringify(id)} is not valid: expected YYYYMMDDTHHMMSSZ-<12 hex digits>, optionally followed by -N`);
  return id;
}

function checkMeta(meta: ReleaseMeta, id: string): void {
  if (typeof meta !== "object" || meta === null || meta.id !== id) throw new ReleaseStoreError(`release metadata must carry id ${id}`);
  if (typeof meta.deployId !== "string" || typeof meta.createdAt !== "string") throw new ReleaseStoreError(`release metadata of ${id} needs deployId and createdAt strings`);
}
