import { isAbsolute, join } from "node:path";
import { z } from "zod";
import { describeIssues } from "../../shared/bus/envelope-codec.ts";
import { parseDuration } from "../../shared/config/config-schema.ts";
import { readAppFiles } from "../../shared/config/read-app-files.ts";
import { name } from "../../shared/messages/fields.ts";
import { cloneUrlProblem } from "../../shared/git/clone-url.ts";

export const strategies = ["release", "artifact", "checkout"] as const;
export type Strategy = (typeof strategies)[number];

/** The hooks a host or a repository may set, named after the step they run in. */
export const hookNames = ["pre-fetch", "pre-link", "post-deploy"] as const;
export type HookName = (typeof hookNames)[number];

const duration = z.union([z.string(), z.number()]).transform((value, context) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    context.addIssue({ code: "custom", message: "must be a duration such as 30s, 5m or 500ms" });
    return z.NEVER;
  }
  return ms;
});

const userName = z
  .string()
  .max(32)
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, "must be a user or group name");

/** A command: a path to an executable, or an argv array. Never a shell string. */
export const command = z.union([z.string().min(1).transform((path) => [path]), z.array(z.string()).min(1)]).refine((argv) => (argv[0] as string).length > 0, "the command is empty");

export const healthCheckSchema = z
  .strictObject({
    http: z
      .string()
      .regex(/^https?:\/\//, "must be an http:// or https:// URL")
      .optional(),
    command: command.optional(),
    expectStatus: z.array(z.number().int().min(100).max(599)).optional(),
    timeout: duration.default(5_000),
    retries: z.number().int().min(0).max(100).default(3),
    interval: duration.default(2_000),
  })
  .refine((check) => (check.http === undefined) !== (check.command === undefined), "give exactly one of http and command");

export type HealthCheckConfig = z.output<typeof healthCheckSchema>;

const hooks = z.strictObject(Object.fromEntries(hookNames.map((hook) => [hook, command.optional()])) as Record<HookName, z.ZodOptional<typeof command>>);

const mirrorName = z
  .string()
  .max(255)
  .regex(/^[a-z0-9][a-z0-9._-]*(?:\/[a-z0-9][a-z0-9._-]*)*$/, "must be the repository's name as repo-fetcher carries it: owner/name, lowercased");

const absolute = z.string().refine(isAbsolute, "must be an absolute path");

const appSchema = z
  .strictObject({
    app: name.optional(),
    strategy: z.enum(strategies).default("release"),
    root: absolute.default("/srv/deploykit"),
    repo: mirrorName.optional(),
    mirror: absolute.optional(),
    url: z
      .string()
      .superRefine((url, context) => {
        const problem = cloneUrlProblem(url);
        if (problem) context.addIssue({ code: "custom", message: problem });
      })
      .optional(),
    environments: z.array(name).optional(),
    user: userName.optional(),
    group: userName.optional(),
    keep: z.number().int().min(1).max(100).default(5),
    rollbackOnFailure: z.boolean().default(true),
    timeout: duration.optional(),
    inactivityTimeout: duration.optional(),
    environment: z
      .record(z.string(), z.string())
      .superRefine((variables, context) => {
        for (const key of Object.keys(variables)) {
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) context.addIssue({ code: "custom", path: [key], message: "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)" });
        }
      })
      .default({}),
    scripts: hooks.default({}),
    restart: command.optional(),
    restartUser: userName.optional(),
    healthCheck: healthCheckSchema.optional(),
    site: absolute.optional(),
    controlDir: absolute.optional(),
  })
  .superRefine((app, context) => {
    const need = (key: string, why: string) => context.addIssue({ code: "custom", path: [key], message: why });
    if (app.strategy !== "artifact" && app.repo === undefined && app.mirror === undefined && app.url === undefined) {
      need("repo", `the ${app.strategy} strategy needs a repository: repo (a repo-fetcher mirror), mirror (a path) or url`);
    }
    if (app.strategy === "checkout" && app.site === undefined) need("site", "the checkout strategy needs site: the directory checked out in place");
    if (app.strategy !== "checkout" && (app.site !== undefined || app.controlDir !== undefined)) need("site", "site and controlDir belong to the checkout strategy");
  });

export type AppConfig = z.output<typeof appSchema> & { app: string; file: string };

export class AppConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AppConfigError";
  }
}

/**
 * Reads the host side of every app: `<appsDir>/<app>.yaml` (or .yml), one
 * file per app as Puppet writes them. The file name is the app name. A
 * directory that does not exist means no apps; a bad file fails the start
 * with its name and the offending keys.
 */
export function readAppsDir(appsDir: string): Map<string, AppConfig> {
  const apps = new Map<string, AppConfig>();
  for (const { app, file: path, parsed } of readAppFiles(appsDir, "deploy-agent.appsDir", (message) => new AppConfigError(message))) {
    const result = appSchema.safeParse(parsed);
    if (!result.success) throw new AppConfigError(`${path}: ${describeIssues(result.error)}`);
    if (result.data.app !== undefined && result.data.app !== app) throw new AppConfigError(`${path}: app is "${result.data.app}" but the file says ${app}: make them agree`);
    apps.set(app, { ...result.data, app, file: path });
  }
  return apps;
}

/** Where an app's releases and `current` live. */
export function appDir(app: AppConfig): string {
  return join(app.root, app.app);
}
