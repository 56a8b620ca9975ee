import { BuildInputError, type BuildPhase, type JenkinsBuild, type Sourced, jenkinsBuild } from "./jenkins-build.ts";

/** The phases a shell step reports; queued is bus-to-jenkins' to say. */
export const stepPhases = ["started", "succeeded", "failed", "aborted"] as const satisfies readonly BuildPhase[];
export type StepPhase = (typeof stepPhases)[number];

function sourced(env: NodeJS.ProcessEnv, name: string): Sourced | undefined {
  const value = env[name];
  return value === undefined || value === "" ? undefined : { value, from: name };
}

/** `name=url`, as given to --artifact. */
export function parseArtifact(value: string): { name: string; url: string } {
  const at = value.indexOf("=");
  const name = value.slice(0, at);
  const url = value.slice(at + 1);
  if (at <= 0 || !/^https?:\/\/\S+$/.test(url)) throw new BuildInputError(`--artifact ${JSON.stringify(value)} must be NAME=URL with an http(s) URL`);
  return { name, url };
}

/**
 * The build a Jenkins shell step runs in, from the environment Jenkins gives
 * it: JOB_NAME, BUILD_NUMBER, BUILD_URL, GIT_COMMIT, GIT_BRANCH, GIT_URL, the
 * DEPLOYKIT_* parameters bus-to-jenkins passed, and for multibranch jobs
 * BRANCH_NAME or TAG_NAME.
 */
export function fromEnvironment(env: NodeJS.ProcessEnv, phase: StepPhase, artifacts: { name: string; url: string }[] = []): JenkinsBuild {
  const job = env.JOB_NAME;
  if (!job) throw new BuildInputError("JOB_NAME is not set: run this from a Jenkins build step, or set JOB_NAME and BUILD_NUMBER");
  const numberText = env.BUILD_NUMBER;
  if (!numberText) throw new BuildInputError("BUILD_NUMBER is not set: run this from a Jenkins build step, or set it");
  if (!/^\d{1,15}$/.test(numberText)) throw new BuildInputError(`BUILD_NUMBER ${JSON.stringify(numberText)} is not a build number`);
  const tag = env.TAG_NAME ? { value: `refs/tags/${env.TAG_NAME}`, from: "TAG_NAME" } : undefined;
  return jenkinsBuild({
    job,
    number: Number(numberText),
    phase,
    url: env.BUILD_URL || undefined,
    repo: sourced(env, "DEPLOYKIT_REPO"),
    repoUrl: sourced(env, "GIT_URL"),
    ref: sourced(env, "DEPLOYKIT_REF") ?? tag,
    branch: sourced(env, "GIT_BRANCH") ?? sourced(env, "BRANCH_NAME"),
    commit: sourced(env, "GIT_COMMIT"),
    sha: sourced(env, "DEPLOYKIT_SHA"),
    correlationId: sourced(env, "DEPLOYKIT_CORRELATION_ID"),
    artifacts,
  });
}
