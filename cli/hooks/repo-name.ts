import { basename, isAbsolute, relative, resolve, sep } from "node:path";

/**
 * The repository's name in messages, as every daemon's config names it
 * (`owner/name`, lowercased): the configured name when there is one, else
 * the directory's path below the first root that holds it, else its directory
 * name; a trailing `.git` is dropped either way.
 */
export function repoName(dir: string, roots: readonly string[], configured?: string): string {
  if (configured?.trim()) return configured.trim().toLowerCase();
  const absolute = resolve(dir);
  let name = basename(absolute);
  for (const root of roots) {
    if (!root.trim()) continue;
    const below = relative(resolve(root), absolute);
    const outside = below === ".." || below.startsWith(`..${sep}`) || isAbsolute(below);
    if (below && !outside) {
      name = below.split(sep).join("/");
      break;
    }
  }
  return name.replace(/\.git$/, "").toLowerCase();
}
