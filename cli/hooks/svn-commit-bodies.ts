import { execa } from "execa";
import { isValidRef } from "../../shared/messages/index.ts";
import type { GitCommitsBody } from "./git-push-body.ts";

export interface SvnCommit {
  /** The repository's path on disk, as svn gives it to the hook. */
  repos: string;
  /** A revision number, digits only. */
  rev: string;
  repo: GitCommitsBody["repo"];
}

interface RefChange {
  created: boolean;
  deleted: boolean;
}

async function svnlook(subcommand: string, commit: SvnCommit): Promise<string> {
  // argv only; the revision is digits and the path absolute, so neither can be read as an option.
  const result = await execa("svnlook", [subcommand, "-r", commit.rev, commit.repos], {
    reject: false,
    timeout: 30_000,
    // svn hooks run with an empty environment; without a UTF-8 locale svnlook escapes every non-ASCII character.
    env: { LC_ALL: "C.UTF-8" },
    stripFinalNewline: false,
  });
  if (result.failed) {
    const why = result.code === "ENOENT" ? "svnlook not found: install subversion" : String(result.stderr).trim() || result.shortMessage;
    throw new Error(`svnlook ${subcommand} -r ${commit.rev} ${commit.repos} failed: ${why}`);
  }
  return String(result.stdout);
}

/**
 * Which refs a revision touched, from the paths it changed (`svnlook
 * changed`), by the standard layout wherever it sits (`shop/trunk/...` too):
 * the first `trunk` segment is refs/heads/trunk, `branches/NAME` is
 * refs/heads/NAME, `tags/NAME` is refs/tags/NAME. The `branches` and `tags`
 * folders themselves count for nothing; any other path, and a revision with no
 * path left, counts for refs/heads/trunk. Adding a branch's folder creates
 * the ref, deleting it deletes the ref.
 */
export function svnRefs(changed: string): Map<string, RefChange> {
  const refs = new Map<string, RefChange>();
  const touch = (ref: string, created = false, deleted = false) => {
    const seen = refs.get(ref) ?? { created: false, deleted: false };
    refs.set(ref, { created: seen.created || created, deleted: seen.deleted || deleted });
  };
  for (const line of changed.split("\n")) {
    if (line.length < 5) continue;
    const action = line[0];
    const segments = line.slice(4).replace(/\/+$/, "").split("/");
    let ref: string | undefined;
    let depth = 0;
    let container = false;
    for (const [index, segment] of segments.entries()) {
      if (segment === "trunk") {
        ref = "refs/heads/trunk";
        depth = index + 1;
      } else if (segment === "branches" || segment === "tags") {
        const next = segments[index + 1];
        if (next === undefined) container = true;
        else {
          ref = `${segment === "branches" ? "refs/heads" : "refs/tags"}/${next}`;
          depth = index + 2;
        }
      } else continue;
      break;
    }
    if (container) continue;
    if (!ref) touch("refs/heads/trunk");
    else touch(ref, action === "A" && segments.length === depth, action === "D" && segments.length === depth);
  }
  if (refs.size === 0) touch("refs/heads/trunk");
  return refs;
}

/** `2024-05-01 12:34:56 +0200 (Wed, 01 May 2024)` as ISO 8601. */
export function svnDate(value: string): string | undefined {
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) ([+-]\d{2})(\d{2})/.exec(value.trim());
  return match ? `${match[1]}T${match[2]}${match[3]}:${match[4]}` : undefined;
}

/** One git.commits.v1 body per ref the revision touched; refs that are not valid git refs are skipped with a warning. */
export async function svnCommitBodies(commit: SvnCommit): Promise<{ bodies: GitCommitsBody[]; warnings: string[] }> {
  const [author, date, log, changed] = await Promise.all(["author", "date", "log", "changed"].map((sub) => svnlook(sub, commit)));
  const rev = Number(commit.rev);
  const name = (author as string).trim();
  const entry = {
    id: `r${rev}`,
    message: (log as string).trimEnd(),
    author: { name },
    timestamp: svnDate(date as string) ?? new Date().toISOString(),
  };
  const bodies: GitCommitsBody[] = [];
  const warnings: string[] = [];
  for (const [ref, change] of svnRefs(changed as string)) {
    if (!isValidRef(ref)) {
      warnings.push(`skipped ref ${JSON.stringify(ref.slice(0, 200))}: not a valid git ref`);
      continue;
    }
    bodies.push({
      repo: commit.repo,
      ref,
      before: `r${Math.max(0, rev - 1)}`,
      after: `r${rev}`,
      created: change.created,
      deleted: change.deleted,
      forced: false,
      commits: [entry],
      pusher: { name },
      provider: "svn-hook",
    });
  }
  return { bodies, warnings };
}
