// Did a side really do the work? On every host of its tree: `current` is a
// symlink to releases/<id>, that release holds the tag deployed (VERSION) and
// the repository's files, and both scripts left their marker in it.
import { existsSync, lstatSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { postDeployMarker, preLinkMarker } from "./bench-repo.ts";
import { hostDirs, type Side } from "./host-dirs.ts";

/** Throws naming the first few hosts that are wrong; returns how many were checked. */
export function checkHosts(base: string, side: Side, hosts: number, tag: string): number {
  const problems: string[] = [];
  for (let i = 0; i < hosts; i++) {
    const { identity, appDir } = hostDirs(base, side, i);
    const current = join(appDir, "current");
    const problem = (() => {
      if (!existsSync(current) || !lstatSync(current).isSymbolicLink()) return "current is not a symlink";
      const target = readlinkSync(current);
      if (!/^(?:.*\/)?releases\/[^/]+$/.test(target)) return `current points at ${target}, not releases/<id>`;
      const version = readFileSync(join(current, "VERSION"), "utf8").trim();
      if (version !== tag) return `current is ${version}, not ${tag}`;
      if (!existsSync(join(current, "public", "index.html"))) return "the release lacks public/index.html";
      if (!existsSync(join(current, preLinkMarker))) return "the pre-link script left no marker";
      if (!existsSync(join(current, postDeployMarker))) return "the post-deploy script left no marker";
      return undefined;
    })();
    if (problem) problems.push(`${identity}: ${problem}`);
  }
  if (problems.length > 0) {
    throw new Error(`${side}: ${problems.length} of ${hosts} hosts did not get ${tag}: ${problems.slice(0, 5).join("; ")}${problems.length > 5 ? "; ..." : ""}`);
  }
  return hosts;
}
