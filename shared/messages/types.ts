import { z } from "zod";
import { durationMs, host, isoTime, name, ref, sha } from "./fields.ts";

// Bodies are loose objects: a field added later stays visible to older readers
// (and to `deploykit tail`); removing or changing a field needs a new .vN type.

const zeroOrSha = z.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, "must be a full hex commit id (all zeros for none)");
const svnRevision = z.string().regex(/^r?[0-9]+$/, "must be an svn revision");

export const gitCommitsV1 = z.looseObject({
  repo: z.looseObject({
    name: z.string().min(1).max(255),
    urls: z.array(z.string().min(1)).default([]),
  }),
  ref,
  before: z.union([zeroOrSha, svnRevision]),
  after: z.union([zeroOrSha, svnRevision]),
  created: z.boolean(),
  deleted: z.boolean(),
  forced: z.boolean(),
  commits: z.array(
    z.looseObject({
      id: z.string().min(1),
      message: z.string(),
      author: z.looseObject({ name: z.string(), email: z.string().optional() }),
      timestamp: isoTime,
      url: z.string().optional(),
    }),
  ),
  pusher: z.looseObject({ name: z.string(), email: z.string().optional() }),
  provider: z.enum(["github", "gitlab", "gitea", "git-hook", "svn-hook", "generic"]),
});

export const buildPhases = ["queued", "started", "succeeded", "failed", "aborted"] as const;

export const buildsV1 = z.looseObject({
  job: z.string().min(1).max(255),
  number: z.number().int().nonnegative().optional(),
  queueId: z.number().int().nonnegative().optional(),
  phase: z.enum(buildPhases),
  repo: z.string().optional(),
  ref: ref.optional(),
  sha: sha.optional(),
  url: z.string().optional(),
  artifacts: z.array(z.looseObject({ name: z.string(), url: z.string(), sha256: z.string().optional() })).default([]),
});

export const reposFetchedV1 = z.looseObject({
  host,
  repo: z.string().min(1),
  ref: ref.optional(),
  sha: sha.optional(),
  path: z.string().min(1),
  durationMs,
  error: z.string().optional(),
});

export const packagesUpdatesV1 = z.looseObject({
  package: z.string().min(1),
  version: z.string().min(1),
  distribution: z.string().min(1),
  component: z.string().min(1),
});

export const packagesAvailableV1 = z.looseObject({
  host,
  package: z.string().min(1),
  installed: z.string().nullable(),
  candidate: z.string().min(1),
});

export const hostsAliveV1 = z.looseObject({
  host,
  event: z.enum(["startup", "alive", "shutdown"]),
  facts: z.record(z.string(), z.unknown()).default({}),
  classes: z.array(z.string()).default([]),
  apps: z
    .record(
      z.string(),
      z.looseObject({
        release: z.string().nullable(),
        ref: z.string().optional(),
        sha: z.string().nullable(),
        since: isoTime.nullable(),
        health: z.enum(["ok", "failing", "unknown"]).optional(),
      }),
    )
    .default({}),
  agentVersion: z.string(),
});

export const deploySteps = ["preflight", "pre-fetch", "fetch", "pre-link", "link", "restart", "post-deploy", "verify", "rollback"] as const;
export type DeployStep = (typeof deploySteps)[number];

export const targetFilter = z.looseObject({
  identities: z.array(host).optional(),
  facts: z.record(z.string(), z.string()).optional(),
  classes: z.array(z.string()).optional(),
});

export const deployActions = ["deploy", "rollback", "cancel"] as const;

// The signature covers every field but `signature` itself (see shared/deploy-signature.ts).
// `deploy` needs ref and sha or artifact; `rollback` switches to `release` (a release id) or the
// previous release; `cancel` stops the running deploy with the same deployId.
export const deployRequestsV1 = z
  .looseObject({
    deployId: z.string().min(1).max(128),
    action: z.enum(deployActions).default("deploy"),
    app: name,
    environment: name,
    ref: ref.optional(),
    sha: sha.optional(),
    artifact: z.looseObject({ url: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).optional(),
    release: z
      .string()
      .regex(/^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}(?:-[1-9][0-9]{0,5})?$/, "must be a release id (20261122T010203Z-0123456789ab)")
      .optional(),
    target: targetFilter,
    batch: z.number().int().nonnegative().optional(),
    ttl: z.number().int().positive(),
    issuedAt: isoTime,
    nonce: z.string().min(16).max(128),
    actor: z.string().max(200).optional(),
    keyId: z.string().optional(),
    signature: z.string().min(1),
  })
  .superRefine((request, context) => {
    if (request.action !== "deploy") return;
    if (request.ref === undefined) context.addIssue({ code: "custom", path: ["ref"], message: "a deploy needs the ref it deploys" });
    if (request.sha === undefined && request.artifact === undefined)
      context.addIssue({ code: "custom", path: ["sha"], message: "a deploy carries the resolved commit sha, an artifact, or both" });
  });

export const deployProgressV1 = z.looseObject({
  deployId: z.string().min(1),
  host,
  step: z.enum(deploySteps),
  state: z.enum(["started", "running", "succeeded", "failed", "skipped"]),
  seq: z.number().int().nonnegative(),
  lines: z.array(z.looseObject({ stream: z.enum(["stdout", "stderr", "agent"]), text: z.string() })).default([]),
});

export const deployOutcomes = ["succeeded", "failed", "rolled-back", "refused", "timeout"] as const;

export const deployResultsV1 = z.looseObject({
  deployId: z.string().min(1),
  host,
  outcome: z.enum(deployOutcomes),
  release: z.string().nullable().optional(),
  durationMs,
  failedStep: z.enum(deploySteps).optional(),
  reason: z.string().optional(),
  // Added with the deploy agent (optional, so readers of the first shape are unaffected).
  app: name.optional(),
  environment: name.optional(),
  action: z.enum(deployActions).optional(),
  ref: z.string().optional(),
  sha: z.string().optional(),
  previousRelease: z.string().nullable().optional(),
  /** The last lines of the failed step's output, oldest first. */
  tail: z.array(z.string()).optional(),
});

export const deployEventsV1 = z.looseObject({
  deployId: z.string().min(1),
  app: name,
  environment: name,
  // "interrupted" came with the conductor: a rollout it could not resume after a restart.
  state: z.enum(["queued", "running", "paused", "succeeded", "failed", "cancelled", "interrupted", "rolling-back", "rolled-back"]),
  message: z.string().optional(),
  // Added with the conductor (optional, so readers of the first shape are unaffected).
  id: z.number().int().positive().optional(),
  number: z.number().int().positive().optional(),
  action: z.enum(["deploy", "rollback"]).optional(),
  ref: z.string().optional(),
  sha: z.string().optional(),
  actor: z.string().optional(),
});

export const eventsV1 = z.looseObject({
  text: z.string().min(1),
  level: z.enum(["info", "warning", "error"]).default("info"),
});

export const keepaliveV1 = z.looseObject({
  host,
  interval: z.number().int().positive(),
  seq: z.number().int().nonnegative(),
});

export const deadletterV1 = z.looseObject({
  destination: z.string(),
  headers: z.record(z.string(), z.string()),
  rawBody: z.string(),
  reason: z.string(),
});
