import { z } from "zod";
import { describeIssues } from "../../shared/bus/envelope-codec.ts";
import { parseDuration } from "../../shared/config/config-schema.ts";
import { readAppFiles } from "../../shared/config/read-app-files.ts";
import { cloneUrlKey, cloneUrlProblem } from "../../shared/git/clone-url.ts";
import type { TargetFilter } from "../../shared/match-target.ts";
import { host, name } from "../../shared/messages/fields.ts";

/** A number of hosts, or a whole percent of the hosts a rollout expects. */
export type CountOrPercent = { count: number } | { percent: number };

export interface RolloutConfig {
  /** Hosts in the first batch; 0: no canary batch. */
  canary: number;
  batch: CountOrPercent;
  /** Milliseconds between batches. */
  pause: number;
  /** Hosts that may fail before the rollout stops. */
  failureBudget: CountOrPercent;
  /** Overrides conductor.hostTimeout. */
  hostTimeout?: number;
}

export interface EnvironmentConfig {
  name: string;
  /** The deploy.requests target filter; {} is every host that carries the app. */
  target: TargetFilter;
  rollout: RolloutConfig;
  /** builds.v1 jobs that must have succeeded for the exact sha before it deploys here. */
  gate?: { jobs: string[] };
  /** False: a lock is shown but does not refuse deploys. */
  lockRequired: boolean;
}

export interface ConductorApp {
  app: string;
  file: string;
  url: string;
  /** The repository's name in builds.v1 and git.commits.v1 messages (lowercase owner/name). */
  repo: string;
  description?: string;
  /** In pipeline order. */
  environments: EnvironmentConfig[];
}

const duration = z.union([z.string(), z.number()]).transform((value, context) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    context.addIssue({ code: "custom", message: "must be a duration such as 30s, 5m or 500ms" });
    return z.NEVER;
  }
  return ms;
});

/** `10` or `"25%"`; percents are whole numbers, so every host count rounds the same way everywhere. */
function countOrPercent(minCount: number, minPercent: number) {
  const wanted = `a host count (${minCount} or more) or a whole percent from ${minPercent}% to 100% ("25%")`;
  return z.union([z.number(), z.string()]).transform((value, context): CountOrPercent => {
    if (typeof value === "number") {
      if (Number.isInteger(value) && value >= minCount) return { count: value };
    } else {
      const percent = /^\s*(\d{1,3})\s*%\s*$/.exec(value);
      if (percent) {
        const number = Number(percent[1]);
        if (number >= minPercent && number <= 100) return { percent: number };
      } else if (/^\s*\d+\s*$/.test(value) && Number(value) >= minCount) {
        return { count: Number(value) };
      }
    }
    context.addIssue({ code: "custom", message: `must be ${wanted}` });
    return z.NEVER;
  });
}

const rolloutSchema = z.strictObject({
  canary: z.number().int().min(0).default(1),
  batch: countOrPercent(1, 1).default({ percent: 100 }),
  pause: duration.default(0),
  failureBudget: countOrPercent(0, 0).default({ count: 0 }),
  hostTimeout: duration.refine((ms) => ms > 0, "must be longer than 0").optional(),
});

// Fact values are compared as strings (shared/match-target.ts); `major: 12` in YAML means "12".
const factValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);

// The fields of the bus's targetFilter, but strict: a misspelt `class:` must not silently target every host.
const targetSchema = z.strictObject({
  identities: z.array(host).optional(),
  facts: z.record(z.string(), factValue).optional(),
  classes: z.array(z.string().min(1)).optional(),
});

const environmentSchema = z.strictObject({
  name,
  target: targetSchema.default({}),
  rollout: rolloutSchema.prefault({}),
  gate: z
    .strictObject({
      jobs: z
        .array(z.string().min(1).max(255))
        .min(1, "list at least one job, or remove gate")
        .refine((jobs) => new Set(jobs).size === jobs.length, "lists a job twice"),
    })
    .optional(),
  lockRequired: z.boolean().default(true),
});

// As repo-fetcher carries names: path segments like the shared `name` field.
const repoPattern = /^[a-z0-9][a-z0-9._-]*(?:\/[a-z0-9][a-z0-9._-]*)*$/;

const appSchema = z
  .strictObject({
    url: z.string().superRefine((url, context) => {
      const problem = cloneUrlProblem(url);
      if (problem) context.addIssue({ code: "custom", message: problem });
    }),
    repo: z.string().max(255).regex(repoPattern, "must be the repository's name as builds and pushes carry it: owner/name, lowercased").optional(),
    description: z.string().max(1000).optional(),
    environments: z.array(environmentSchema).min(1, "list at least one environment (in pipeline order)"),
  })
  .superRefine((app, context) => {
    const seen = new Set<string>();
    for (const [index, environment] of app.environments.entries()) {
      if (seen.has(environment.name)) context.addIssue({ code: "custom", path: ["environments", index, "name"], message: `${environment.name} is listed twice` });
      seen.add(environment.name);
    }
  });

export class AppCatalogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AppCatalogError";
  }
}

/**
 * The repository's path on its server (`https://git.example.com/Acme/Shop.git`
 * is `acme/shop`), which is what webhooks and Jenkins call it; the app name when
 * the URL is a local path or gives no usable name.
 */
export function defaultRepoName(url: string, app: string): string {
  const key = cloneUrlKey(url);
  if (key === undefined || key.startsWith("file/")) return app;
  const path = key.slice(key.indexOf("/") + 1);
  return repoPattern.test(path) ? path : app;
}

/**
 * Reads the apps the conductor deploys: `<appsDir>/<app>.yaml` (or .yml), one
 * file per app as Puppet writes them; the file name is the app name. A
 * directory that does not exist means no apps; a bad file fails with its name
 * and the offending keys.
 */
export function readAppCatalog(appsDir: string): Map<string, ConductorApp> {
  const apps = new Map<string, ConductorApp>();
  for (const { app, file: path, parsed } of readAppFiles(appsDir, "conductor.appsDir", (message) => new AppCatalogError(message))) {
    const result = appSchema.safeParse(parsed);
    if (!result.success) throw new AppCatalogError(`${path}: ${describeIssues(result.error)}`);
    const { url, repo, description, environments } = result.data;
    apps.set(app, {
      app,
      file: path,
      url,
      repo: repo ?? defaultRepoName(url, app),
      ...(description !== undefined ? { description } : {}),
      environments: environments.map((environment) => ({
        name: environment.name,
        target: environment.target,
        rollout: environment.rollout,
        ...(environment.gate ? { gate: environment.gate } : {}),
        lockRequired: environment.lockRequired,
      })),
    });
  }
  return apps;
}
