import { randomBytes } from "node:crypto";
import { closeSync, fchmodSync, fsyncSync, lstatSync, openSync, readdirSync, renameSync, rmSync, type Stats, writeSync } from "node:fs";
import { dirname } from "node:path";

// How the files of a release are named, and the file-system steps ReleaseStore orders:
// each step either finishes or leaves only a name recover() knows to remove.

const idPattern = /^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}(?:-[1-9][0-9]{0,5})?$/;
const idSource = idPattern.source.slice(1, -1);
export const partialName = new RegExp(`^(${idSource})\\.partial$`);
// A tree being pruned is renamed out of the way first, so a crash halfway through its removal never leaves a listed, half-deleted release.
export const removingName = new RegExp(`^(${idSource})\\.removing$`);
export const metaName = new RegExp(`^(${idSource})\\.json$`);
// Left by writeFileDurably() when killed halfway.
export const metaTmpName = new RegExp(`^(${idSource})\\.json\\.tmp-[0-9a-f]+$`);
export const currentTmpName = /^current\.tmp-[0-9a-f]+$/;

/** True for a well-formed release id: `YYYYMMDDTHHMMSSZ-<12 hex>` with an optional `-N`; nothing else may reach a path. */
export function isReleaseId(value: unknown): value is string {
  return typeof value === "string" && idPattern.test(value);
}

/** Orders ids by time, then by their `-N` suffix as a number (a string sort puts `-10` before `-9`). */
export function compareReleaseIds(a: string, b: string): number {
  const [aTime, aSuffix] = splitId(a);
  const [bTime, bSuffix] = splitId(b);
  if (aTime !== bTime) return aTime < bTime ? -1 : 1;
  if (aSuffix !== bSuffix) return aSuffix - bSuffix;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The time part of an id and its `-N` suffix (1 when it has none). */
export function splitId(id: string): [string, number] {
  const parts = id.split("-");
  return [parts[0] as string, parts.length > 2 ? Number(parts[2]) : 1];
}

/**
 * Replaces `file` with `text` whole or not at all, even across a power cut. A
 * process killed halfway leaves only `<file>.tmp-<12 hex>` next to it.
 */
export function writeFileDurably(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${randomBytes(6).toString("hex")}`;
  const fd = openSync(tmp, "wx", 0o600);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, file);
  fsyncDir(dirname(file));
}

/**
 * Removes a release: its tree is renamed to `aside` first, then its metadata
 * goes, then the tree's contents, so no step leaves a listed, half-removed
 * release. `aside` must be in the same directory as `tree`.
 */
export function removeRelease(files: { tree: string; meta: string; aside: string }): void {
  const { tree, meta, aside } = files;
  if (exists(tree)) {
    rmSync(aside, { recursive: true, force: true });
    renameSync(tree, aside);
    fsyncDir(dirname(tree));
  }
  rmSync(meta, { force: true });
  rmSync(aside, { recursive: true, force: true });
}

/** Makes renames and removals in a directory survive a power cut, not only a killed process. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
}

export function exists(path: string): boolean {
  return lstatOrNull(path) !== null;
}

export function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}
