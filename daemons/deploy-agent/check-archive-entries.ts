import { open } from "node:fs/promises";
import { win32 } from "node:path";
import * as tar from "tar";

export type ArchiveProblem = "unsafe-entry" | "format";

/** Why checkArchiveEntries() refused an archive; fetchArtifact() turns it into an ArtifactError with the same problem and message. */
export class ArchiveCheckError extends Error {
  readonly problem: ArchiveProblem;
  constructor(problem: ArchiveProblem, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ArchiveCheckError";
    this.problem = problem;
  }
}

const fileTypes = new Set(["File", "OldFile", "ContiguousFile"]);
const dirTypes = new Set(["Directory", "GNUDumpDir"]);
const deviceTypes = new Set(["CharacterDevice", "BlockDevice", "FIFO"]);

/**
 * Lists every entry of the tar.gz `file` and refuses the whole archive when any
 * of them could land outside the destination (absolute path, `..`, link out,
 * write through a link, link chain or loop) or is a device or FIFO. Returns the
 * number of entries; `label` is the artifact as messages may show it.
 */
export async function checkArchiveEntries(file: string, label: string): Promise<number> {
  const entries = await listArchive(file, label);
  checkEntries(entries, label);
  return entries.length;
}

interface Listed {
  path: string;
  type: string;
  linkpath?: string;
}

async function listArchive(file: string, label: string): Promise<Listed[]> {
  const handle = await open(file, "r");
  const magic = Buffer.alloc(2);
  try {
    await handle.read(magic, 0, 2, 0);
  } finally {
    await handle.close();
  }
  if (magic[0] !== 0x1f || magic[1] !== 0x8b) throw new ArchiveCheckError("format", `${label} is not a gzip file: artifacts must be .tar.gz`);
  const entries: Listed[] = [];
  try {
    await tar.t({ file, strict: true, onReadEntry: (entry) => void entries.push({ path: entry.path, type: entry.type, linkpath: entry.linkpath }) });
  } catch (err) {
    throw new ArchiveCheckError("format", `${label} is not a readable tar.gz archive (${describe(err)}): rebuild it with tar -czf`, { cause: err });
  }
  return entries;
}

// Absolute on either platform, or with a drive root node-tar would strip in silence.
const isRooted = (p: string) => p.startsWith("/") || win32.isAbsolute(p) || win32.parse(p).root !== "";
const segments = (p: string) => p.split("/").filter((s) => s !== "" && s !== ".");

/** Whether `target`, walked from the directory `base` by names alone, ever climbs above the destination. */
function climbsOut(base: string[], target: string[]): boolean {
  let depth = base.length;
  for (const seg of target) {
    if (seg === "..") {
      if (depth === 0) return true;
      depth--;
    } else if (seg !== "" && seg !== ".") depth++;
  }
  return false;
}

/** Resolves a path inside the archive as the kernel would, following the archive's own symlinks. */
function follow(path: string[], symlinks: Map<string, string>): "inside" | "outside" | "loop" {
  let hops = 0;
  const walk = (base: string[], segs: string[]): string[] | "outside" | "loop" => {
    let stack = [...base];
    for (const seg of segs) {
      if (seg === "" || seg === ".") continue;
      if (seg === "..") {
        if (stack.length === 0) return "outside";
        stack.pop();
        continue;
      }
      stack.push(seg);
      const target = symlinks.get(stack.join("/"));
      if (target === undefined) continue;
      if (++hops > 40) return "loop";
      if (isRooted(target)) return "outside";
      const resolved = walk(stack.slice(0, -1), target.split("/"));
      if (typeof resolved === "string") return resolved;
      stack = resolved;
    }
    return stack;
  };
  const result = walk([], path);
  return typeof result === "string" ? result : "inside";
}

function checkEntries(entries: Listed[], label: string): void {
  const refuse = (entry: Listed, why: string) =>
    new ArchiveCheckError("unsafe-entry", `${label} refused, nothing was extracted: entry ${JSON.stringify(entry.path)} ${why}; rebuild the artifact without it`);
  const symlinks = new Map<string, string>();
  const links = new Set<string>();
  const seen = new Map<string, string>();
  for (const entry of entries) {
    const { type } = entry;
    if (deviceTypes.has(type)) throw refuse(entry, `is a ${type}, and devices and FIFOs are never extracted`);
    if (!fileTypes.has(type) && !dirTypes.has(type) && type !== "SymbolicLink" && type !== "Link") {
      throw new ArchiveCheckError("format", `${label} has entry ${JSON.stringify(entry.path)} of type ${type}, which is not extracted: rebuild it with tar -czf`);
    }
    if (isRooted(entry.path)) throw refuse(entry, "has an absolute path");
    // node-tar also splits on backslashes, so a '..' there counts too.
    if (entry.path.split(/[\\/]/).includes("..")) throw refuse(entry, "has a '..' segment");
    const key = segments(entry.path).join("/");
    if (key.split("/").length > 1024) throw refuse(entry, "is nested deeper than 1024 directories");
    if (key === "" && !dirTypes.has(type)) throw refuse(entry, "would replace the release directory itself");
    const isLink = type === "SymbolicLink" || type === "Link";
    if (seen.has(key) && (isLink || links.has(key))) throw refuse(entry, "appears more than once and one of them is a link");
    const target = entry.linkpath ?? "";
    if (type === "SymbolicLink") {
      if (isRooted(target)) throw refuse(entry, `is a symlink to the absolute path ${JSON.stringify(target)}`);
      if (climbsOut(segments(entry.path).slice(0, -1), target.split(/[\\/]/))) {
        throw refuse(entry, `is a symlink to ${JSON.stringify(target)}, outside the release`);
      }
      symlinks.set(key, target);
    }
    if (type === "Link") {
      if (isRooted(target) || target.split(/[\\/]/).includes("..")) throw refuse(entry, `is a hard link to ${JSON.stringify(target)}, outside the release`);
      if (!fileTypes.has(seen.get(segments(target).join("/")) ?? "")) {
        throw refuse(entry, `is a hard link to ${JSON.stringify(target)}, which is not a file earlier in the archive`);
      }
    }
    if (isLink) links.add(key);
    seen.set(key, type === "Link" ? "File" : type);
  }
  // Order does not matter here: a link anywhere in the archive taints every path through it.
  for (const entry of entries) {
    const parts = segments(entry.path);
    for (let i = 1; i < parts.length; i++) {
      const through = parts.slice(0, i).join("/");
      if (symlinks.has(through)) throw refuse(entry, `would be written through the symlink ${JSON.stringify(through)}`);
    }
    if (entry.type !== "SymbolicLink") continue;
    const where = follow(parts, symlinks);
    if (where === "outside") throw refuse(entry, `is a symlink to ${JSON.stringify(entry.linkpath)} that leads outside the release through other links`);
    if (where === "loop") throw refuse(entry, "is part of a symlink loop");
  }
}

/** An error and its cause, in one line for an operator. */
export function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
  return `${err.message}${cause}`;
}
