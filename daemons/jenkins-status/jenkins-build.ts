import { z } from "zod";
import { type BodyInput, isValidRef } from "../../shared/messages/index.ts";
import type { buildPhases } from "../../shared/messages/types.ts";

export type BuildPhase = (typeof buildPhases)[number];

/** A value from outside, with the name the operator knows it by (build.scm.branch, GIT_BRANCH). */
export interface Sourced {
  value: string;
  from: string;
}

export interface JenkinsBuildInput {
  /** The job's full name, `team/app/main`. */
  job: string;
  number?: number;
  queueId?: number;
  phase: BuildPhase;
  url?: string;
  /** DEPLOYKIT_REPO, else derived from the clone URL. */
  repo?: Sourced;
  repoUrl?: Sourced;
  /** DEPLOYKIT_REF (a full ref), else the branch Jenkins built. */
  ref?: Sourced;
  branch?: Sourced;
  /** The commit Jenkins built, else DEPLOYKIT_SHA. */
  commit?: Sourced;
  sha?: Sourced;
  correlationId?: Sourced;
  artifacts?: { name: string; url: string }[];
}

export interface JenkinsBuild {
  body: BodyInput<"builds">;
  correlationId?: string;
  /** Oddities worth a log line that do not make the input wrong. */
  warnings: string[];
}

/** Input that cannot become a builds.v1 message; the message says which value and why. */
export class BuildInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BuildInputError";
  }
}

const shaPattern = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const uuid = z.uuid();

/** `origin/main`, `main`, `refs/remotes/origin/main` → `refs/heads/main`; full refs stay; a detached head is no ref. */
export function normaliseRef(branch: string): string | undefined {
  const value = branch.trim();
  if (value === "" || value === "HEAD" || value === "detached") return undefined;
  const remote = /^(?:refs\/)?remotes\/[^/]+\/(.+)$/.exec(value) ?? /^origin\/(.+)$/.exec(value);
  if (remote) return `refs/heads/${remote[1]}`;
  if (value.startsWith("refs/")) return value;
  return `refs/heads/${value}`;
}

/** The repository's path on its git server, lowercased, from a clone URL (https, ssh, git, or scp-like); undefined for a local path. */
export function repoFromUrl(url: string): string | undefined {
  let path: string | undefined;
  const scp = /^[^@/\s]+@[^:/\s]+:(?!\/\/)(.+)$/.exec(url);
  if (scp) {
    path = scp[1];
  } else {
    try {
      const parsed = new URL(url);
      if (["http:", "https:", "ssh:", "git:", "git+ssh:", "ssh+git:"].includes(parsed.protocol)) path = decodeURIComponent(parsed.pathname);
    } catch {
      return undefined;
    }
  }
  if (path === undefined) return undefined;
  const name = path.replace(/^\/+/, "").replace(/\/+$/, "").replace(/\.git$/i, "").toLowerCase();
  return name === "" ? undefined : name;
}

/** `owner/name`, `group/sub/project`: lowercase segments that are safe as file names and argv. */
export function isRepoName(name: string): boolean {
  if (name.length === 0 || name.length > 255) return false;
  return name.split("/").every((segment) => /^[a-z0-9_.][a-z0-9._-]*$/.test(segment) && segment !== "." && segment !== "..");
}

/** `job/team/job/app/job/main/` (a job's URL under Jenkins' root) → `team/app/main`. */
export function jobFromUrl(url: string): string | undefined {
  const parts = url.replace(/^\/+|\/+$/g, "").split("/");
  if (parts.length < 2 || parts.length % 2 !== 0) return undefined;
  const names: string[] = [];
  for (let i = 0; i < parts.length; i += 2) {
    if (parts[i] !== "job" || !parts[i + 1]) return undefined;
    try {
      names.push(decodeURIComponent(parts[i + 1] as string));
    } catch {
      return undefined;
    }
  }
  return names.join("/");
}

function refuse(source: Sourced, why: string): never {
  throw new BuildInputError(`${source.from} ${JSON.stringify(source.value)} ${why}`);
}

function checkRepo(input: JenkinsBuildInput): string | undefined {
  if (input.repo) {
    const name = input.repo.value.toLowerCase();
    if (!isRepoName(name)) refuse(input.repo, "is not a repository name (owner/name, lowercase letters, digits, . _ -)");
    return name;
  }
  if (!input.repoUrl || input.repoUrl.value === "") return undefined;
  const name = repoFromUrl(input.repoUrl.value);
  if (name !== undefined && !isRepoName(name)) refuse(input.repoUrl, `names the repository "${name}", which is not a valid name; set DEPLOYKIT_REPO`);
  return name;
}

// git refuses a branch or tag name that starts with a dash (check-ref-format --branch), and so do we:
// the short name is what ends up on command lines.
function isSafeRef(ref: string): boolean {
  return isValidRef(ref) && !/^refs\/(?:heads|tags)\/-/.test(ref);
}

function checkRef(input: JenkinsBuildInput): string | undefined {
  if (input.ref) {
    if (!input.ref.value.startsWith("refs/") || !isSafeRef(input.ref.value)) refuse(input.ref, "is not a full git ref such as refs/heads/main");
    return input.ref.value;
  }
  if (!input.branch) return undefined;
  const ref = normaliseRef(input.branch.value);
  if (ref !== undefined && !isSafeRef(ref)) refuse(input.branch, "is not a valid git branch name");
  return ref;
}

function checkSha(source: Sourced | undefined): string | undefined {
  if (!source || source.value === "") return undefined;
  const sha = source.value.toLowerCase();
  if (!shaPattern.test(sha)) refuse(source, "is not a full hex commit id");
  return sha;
}

/**
 * Checks what Jenkins said about a build (from the Notification plugin or a
 * shell step's environment) and makes the builds.v1 body of it. Values from
 * outside are refused, not cleaned: a ref that is not a ref never reaches the
 * bus, so no later step can hand it to git.
 */
export function jenkinsBuild(input: JenkinsBuildInput): JenkinsBuild {
  const warnings: string[] = [];
  // biome-ignore lint/suspicious/noControlCharactersInRegex: a job name with control characters is refused
  if (input.job === "" || input.job.length > 255 || /[\x00-\x1f\x7f]/.test(input.job)) {
    throw new BuildInputError(`the job name ${JSON.stringify(input.job.slice(0, 300))} is empty, too long or holds control characters`);
  }
  const repo = checkRepo(input);
  const ref = checkRef(input);
  const built = checkSha(input.commit);
  const pushed = checkSha(input.sha);
  if (built && pushed && built !== pushed) warnings.push(`Jenkins built ${built}, not the pushed ${pushed} (${input.sha?.from}); reporting the commit it built`);
  let correlationId: string | undefined;
  if (input.correlationId && input.correlationId.value !== "") {
    if (!uuid.safeParse(input.correlationId.value).success) refuse(input.correlationId, "is not a uuid");
    correlationId = input.correlationId.value;
  }
  const body: BodyInput<"builds"> = {
    job: input.job,
    phase: input.phase,
    number: input.number,
    queueId: input.queueId,
    repo,
    ref,
    sha: built ?? pushed,
    url: input.url,
    artifacts: input.artifacts ?? [],
  };
  for (const key of Object.keys(body) as (keyof typeof body)[]) if (body[key] === undefined) delete body[key];
  return { body, correlationId, warnings };
}
