import { readdirSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import YAML from "yaml";
import { z } from "zod";
import { cloneUrlProblem } from "../../shared/git/clone-url.ts";

export const defaultMirrorDir = "/var/lib/deploykit/mirrors";

export const fetchTriggers = ["build", "commit"] as const;
export type FetchOn = (typeof fetchTriggers)[number];

/** One repository this host carries. */
export interface RepoEntry {
  /** The repository's path on its git server, lowercased: `owner/name`. */
  name: string;
  url: string;
  /** The bare mirror. */
  path: string;
  /** The user that owns the mirror and runs git for it; absent: the daemon's own user. */
  user?: string;
  fetchOn: FetchOn;
  /** The file the entry came from, for error messages. */
  file: string;
}

// Path segments as in the shared `name` field, so a repository name is also a safe relative path.
const repoName = z
  .string()
  .max(255)
  .regex(/^[a-z0-9][a-z0-9._-]*(?:\/[a-z0-9][a-z0-9._-]*)*$/, "must be the repository's path on its git server, lowercased: owner/name");

const entrySchema = z.strictObject({
  name: repoName,
  url: z.string().superRefine((url, context) => {
    const problem = cloneUrlProblem(url);
    if (problem) context.addIssue({ code: "custom", message: problem });
  }),
  path: z.string().refine(isAbsolute, "must be an absolute path").optional(),
  user: z
    .string()
    .max(32)
    .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, "must be a user name")
    .optional(),
  fetchOn: z.enum(fetchTriggers).default("build"),
});

const fileSchema = z.strictObject({ repos: z.array(entrySchema).default([]) }).nullable();

export class ReposFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReposFileError";
  }
}

/**
 * Reads the repositories this host carries: one YAML file, or every *.yaml
 * and *.yml file of a directory (in name order, as Puppet writes one file per
 * repository). A location that does not exist means no repositories.
 */
export function readReposFile(location: string, mirrorDir: string): { repos: RepoEntry[]; files: string[] } {
  let files: string[];
  try {
    files = statSync(location).isDirectory()
      ? readdirSync(location)
          .filter((file) => /\.ya?ml$/.test(file) && !file.startsWith("."))
          .sort()
          .map((file) => join(location, file))
      : [location];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { repos: [], files: [] };
    throw new ReposFileError(`repo-fetcher.reposFile ${location} cannot be read: ${(err as Error).message}`);
  }
  const repos: RepoEntry[] = [];
  for (const file of files) {
    let parsed: unknown;
    try {
      parsed = YAML.parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new ReposFileError(`${file} cannot be read: ${(err as Error).message}`);
    }
    const result = fileSchema.safeParse(parsed);
    if (!result.success) {
      const problems = result.error.issues.map((issue) => `${issue.path.join(".") || "(top level)"}: ${issue.message}`);
      throw new ReposFileError(`${file} is not a valid repository list (repos: [{name, url, path, user, fetchOn}]):\n  ${problems.join("\n  ")}`);
    }
    for (const entry of result.data?.repos ?? []) {
      const path = resolve(entry.path ?? join(mirrorDir || defaultMirrorDir, `${entry.name}.git`));
      repos.push({ name: entry.name, url: entry.url, path, user: entry.user, fetchOn: entry.fetchOn, file });
    }
  }
  for (const [index, repo] of repos.entries()) {
    const earlier = repos.slice(0, index);
    const sameName = earlier.find((other) => other.name === repo.name);
    if (sameName) throw new ReposFileError(`repository ${repo.name} is listed twice (${sameName.file} and ${repo.file}): keep one entry`);
    const samePath = earlier.find((other) => other.path === repo.path);
    if (samePath) throw new ReposFileError(`repositories ${samePath.name} and ${repo.name} share the mirror ${repo.path}: give each its own path`);
  }
  return { repos, files };
}
