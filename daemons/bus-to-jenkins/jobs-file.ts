import { existsSync, readFileSync } from "node:fs";
import YAML from "yaml";
import { z } from "zod";
import { ConfigError } from "../../shared/config/read-config.ts";
import type { BodyOf } from "../../shared/messages/index.ts";
import { globPattern } from "./glob-pattern.ts";
import { type JobPath, jobPath } from "./job-path.ts";

export type Commit = BodyOf<"git.commits">;

/** One entry of the jobs file, checked and compiled. */
export interface JobRule {
  /** Where it came from, for messages: `jobs[2] (acme/shop → team/shop/main)`. */
  where: string;
  job: JobPath;
  matches(commit: Commit): boolean;
  /** The build parameters for a commit, or undefined when the job takes none (triggered with /build). */
  parameters(commit: Commit, correlationId: string): Record<string, string> | undefined;
}

const placeholders = ["repo", "ref", "shortRef", "sha"] as const;
type Placeholder = (typeof placeholders)[number];

// These four carry the push to the build; jenkins-status reads them back (docs/jenkins.md).
const deploykitNames = ["DEPLOYKIT_REPO", "DEPLOYKIT_REF", "DEPLOYKIT_SHA", "DEPLOYKIT_CORRELATION_ID"];

const pattern = z
  .string()
  .min(1)
  .regex(/^refs\/\S+$/, "must be a full ref pattern such as refs/heads/main, refs/heads/* or refs/tags/v*");

const entrySchema = z.strictObject({
  repo: z.string().min(1, "is empty"),
  refs: z.array(pattern).min(1, "lists no pattern").default(["refs/heads/**"]),
  ignore: z.array(pattern).default([]),
  job: z.string(),
  parameters: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String))
    .default({}),
  deploykitParameters: z.boolean().default(true),
});

const fileSchema = z.strictObject({ jobs: z.array(z.unknown()).default([]) });

function issuePath(path: readonly PropertyKey[]): string {
  return path.map((part) => (typeof part === "number" ? `[${part}]` : `.${String(part)}`)).join("").replace(/^\./, "");
}

function explain(error: z.ZodError): string {
  return error.issues.map((issue) => (issue.path.length > 0 ? `${issuePath(issue.path)}: ${issue.message}` : issue.message)).join("; ");
}

function shortRef(ref: string): string {
  return ref.replace(/^refs\/(?:heads|tags)\//, "");
}

function isSha(value: string): boolean {
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(value);
}

/** `host/path` of a clone URL, so the https and ssh URLs of one repository compare equal. */
function urlKey(url: string): string | undefined {
  const scp = /^[^@/\s]+@([^:/\s]+):(?!\/\/)(.+)$/.exec(url);
  let host: string;
  let path: string;
  if (scp) {
    host = scp[1] as string;
    path = scp[2] as string;
  } else {
    try {
      const parsed = new URL(url);
      host = parsed.hostname;
      path = parsed.pathname;
    } catch {
      return undefined;
    }
  }
  return `${host}/${path.replace(/^\/+|\/+$/g, "").replace(/\.git$/i, "")}`.toLowerCase();
}

function compileValue(value: string): (values: Record<Placeholder, string>) => string {
  const parts = value.split(/(\{[A-Za-z]+\})/);
  for (const part of parts) {
    const name = /^\{([A-Za-z]+)\}$/.exec(part)?.[1];
    if (name && !(placeholders as readonly string[]).includes(name)) {
      throw new Error(`"${value}" uses {${name}}; the placeholders are ${placeholders.map((p) => `{${p}}`).join(", ")}`);
    }
  }
  return (values) => parts.map((part) => {
    const name = /^\{([A-Za-z]+)\}$/.exec(part)?.[1] as Placeholder | undefined;
    return name ? values[name] : part;
  }).join("");
}

function compileEntry(raw: unknown, index: number, file: string): JobRule {
  const label = (extra?: string) => `${file}: jobs[${index}]${extra ? ` (${extra})` : ""}`;
  const parsed = entrySchema.safeParse(raw);
  const repoHint = typeof (raw as { repo?: unknown })?.repo === "string" ? (raw as { repo: string }).repo : undefined;
  if (!parsed.success) throw new ConfigError(`${label(repoHint)}: ${explain(parsed.error)}`);
  const entry = parsed.data;
  const where = `jobs[${index}] (${entry.repo} → ${entry.job})`;
  const fail = (detail: string): never => {
    throw new ConfigError(`${file}: ${where}: ${detail}`);
  };
  let job: JobPath;
  try {
    job = jobPath(entry.job);
  } catch (err) {
    return fail(`job ${(err as Error).message}`);
  }
  const badName = Object.keys(entry.parameters).find((name) => !/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name));
  if (badName !== undefined) fail(`parameters: ${JSON.stringify(badName)} is not a parameter name (letters, digits, _ . -)`);
  const reserved = Object.keys(entry.parameters).filter((name) => deploykitNames.includes(name));
  if (reserved.length > 0) fail(`parameters: ${reserved.join(", ")} are set by deploykit; remove them (or set deploykitParameters: false)`);
  const values: [string, (v: Record<Placeholder, string>) => string][] = [];
  for (const [name, value] of Object.entries(entry.parameters)) {
    try {
      values.push([name, compileValue(value)]);
    } catch (err) {
      fail(`parameters.${name}: ${(err as Error).message}`);
    }
  }
  const repo = entry.repo.toLowerCase();
  // A clone URL names one repository (whichever of its URLs a push lists); anything else is a name pattern.
  const byUrl = /^[a-z][a-z0-9+.-]*:\/\/|^[^/@\s]+@[^:\s]+:/.test(entry.repo) ? urlKey(entry.repo) : undefined;
  const repoPattern = byUrl ? undefined : globPattern(repo);
  const refs = entry.refs.map(globPattern);
  const ignore = entry.ignore.map(globPattern);
  const takesParameters = entry.deploykitParameters || values.length > 0;
  return {
    where,
    job,
    matches(commit) {
      const repoMatches = repoPattern ? repoPattern.test(commit.repo.name.toLowerCase()) : commit.repo.urls.some((url) => urlKey(url) === byUrl);
      return repoMatches && refs.some((r) => r.test(commit.ref)) && !ignore.some((r) => r.test(commit.ref));
    },
    parameters(commit, correlationId) {
      if (!takesParameters) return undefined;
      const context: Record<Placeholder, string> = {
        repo: commit.repo.name.toLowerCase(),
        ref: commit.ref,
        shortRef: shortRef(commit.ref),
        sha: commit.after,
      };
      const result: Record<string, string> = {};
      for (const [name, render] of values) result[name] = render(context);
      if (entry.deploykitParameters) {
        result.DEPLOYKIT_REPO = context.repo;
        result.DEPLOYKIT_REF = commit.ref;
        // An svn revision is not a commit id; builds.v1 carries only those.
        if (isSha(commit.after)) result.DEPLOYKIT_SHA = commit.after;
        result.DEPLOYKIT_CORRELATION_ID = correlationId;
      }
      return result;
    },
  };
}

/**
 * Reads and checks the jobs file at start, so a typo is a clear error naming
 * the file and the entry rather than a build that silently never starts.
 * Returns undefined when the file does not exist and `optional` is set.
 */
export function loadJobsFile(file: string, options: { optional: boolean }): JobRule[] | undefined {
  if (!existsSync(file)) {
    if (options.optional) return undefined;
    throw new ConfigError(`bus-to-jenkins.jobsFile ${file} does not exist: create it (see docs/jenkins.md) or point DEPLOYKIT_BUS_TO_JENKINS_JOBS_FILE at one`);
  }
  let document: unknown;
  try {
    document = YAML.parse(readFileSync(file, "utf8")) ?? {};
  } catch (err) {
    throw new ConfigError(`${file} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  const parsed = fileSchema.safeParse(document);
  if (!parsed.success) throw new ConfigError(`${file}: ${explain(parsed.error)} (the file holds one key, jobs: a list of entries)`);
  return parsed.data.jobs.map((raw, index) => compileEntry(raw, index, file));
}
