import { z } from "zod";
import { BuildInputError, type BuildPhase, type JenkinsBuild, type Sourced, jenkinsBuild, jobFromUrl } from "./jenkins-build.ts";

// The Notification plugin's JSON (Gson, fields in snake_case, nulls left out).
// Only what deploykit reads is checked; the rest (log, notes, test_summary) is let through.
const text = z.string().nullish();

const notificationSchema = z.looseObject({
  name: z.string().min(1),
  display_name: text,
  url: text,
  build: z.looseObject({
    full_url: text,
    number: z.number().int().nonnegative().nullish(),
    queue_id: z.number().int().nonnegative().nullish(),
    phase: z.enum(["QUEUED", "STARTED", "COMPLETED", "FINALIZED"]),
    status: text,
    url: text,
    scm: z.looseObject({ url: text, branch: text, commit: text }).nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
    artifacts: z.record(z.string(), z.record(z.string(), z.string())).nullish(),
  }),
});

export type Notification = z.output<typeof notificationSchema>;

// What each Jenkins result means to deploykit once the build is over.
const finished = {
  SUCCESS: "succeeded",
  UNSTABLE: "failed",
  FAILURE: "failed",
  ABORTED: "aborted",
  NOT_BUILT: "aborted",
} as const satisfies Record<string, BuildPhase>;

function phaseOf(build: Notification["build"]): BuildPhase {
  switch (build.phase) {
    case "QUEUED":
      return "queued";
    case "STARTED":
      return "started";
    case "COMPLETED":
    case "FINALIZED": {
      if (!build.status) throw new BuildInputError(`build.status is missing; a ${build.phase} notification says how the build ended (SUCCESS, UNSTABLE, FAILURE, ABORTED)`);
      if (!Object.hasOwn(finished, build.status)) {
        throw new BuildInputError(`build.status ${JSON.stringify(build.status)} is not one of ${Object.keys(finished).join(", ")}`);
      }
      return finished[build.status as keyof typeof finished];
    }
    default: {
      const unreachable: never = build.phase;
      return unreachable;
    }
  }
}

function explain(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? `${issue.path.join(".")}: ` : ""}${issue.message}`)
    .join("; ");
}

/** Checks a notification and makes the builds.v1 body of it; throws BuildInputError saying what is wrong. */
export function fromNotification(payload: unknown, options: { jenkinsUrl?: string } = {}): JenkinsBuild {
  const parsed = notificationSchema.safeParse(payload);
  if (!parsed.success) throw new BuildInputError(`not a Notification plugin payload: ${explain(parsed.error)}`);
  const { name, url, build } = parsed.data;
  const phase = phaseOf(build);
  if (phase !== "queued" && (build.number === undefined || build.number === null)) throw new BuildInputError("build.number is missing");
  const parameters = build.parameters ?? {};
  const parameter = (key: string): Sourced | undefined => {
    const value = parameters[key];
    return typeof value === "string" && value !== "" ? { value, from: `build.parameters.${key}` } : undefined;
  };
  const scm = (key: "url" | "branch" | "commit"): Sourced | undefined => {
    const value = build.scm?.[key];
    return value ? { value, from: `build.scm.${key}` } : undefined;
  };
  const root = options.jenkinsUrl?.replace(/\/+$/, "");
  const buildUrl = build.full_url ?? (build.url && root ? `${root}/${build.url.replace(/^\/+/, "")}` : (build.url ?? undefined));
  const artifacts = Object.entries(build.artifacts ?? {}).flatMap(([artifact, locations]) => {
    const where = locations.archive ?? Object.values(locations)[0];
    return where ? [{ name: artifact, url: where }] : [];
  });
  return jenkinsBuild({
    // `name` is the job's own name; its URL gives the full name with folders.
    job: (url ? jobFromUrl(url) : undefined) ?? name,
    number: build.number ?? undefined,
    queueId: build.queue_id ?? undefined,
    phase,
    url: buildUrl,
    repo: parameter("DEPLOYKIT_REPO"),
    repoUrl: scm("url"),
    ref: parameter("DEPLOYKIT_REF"),
    branch: scm("branch"),
    commit: scm("commit"),
    sha: parameter("DEPLOYKIT_SHA"),
    correlationId: parameter("DEPLOYKIT_CORRELATION_ID"),
    artifacts,
  });
}
