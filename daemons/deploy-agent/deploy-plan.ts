import YAML from "yaml";
import { z } from "zod";
import { describeIssues } from "../../shared/bus/envelope-codec.ts";
import { type AppConfig, command, type HealthCheckConfig, type HookName, healthCheckSchema, hookNames } from "./app-config.ts";

/** The file a repository may carry at its root: the developer's part of a deploy. */
export const repoFileName = "deploykit.yml";

// Only what is the developer's to decide; where, as whom and how many releases are the operator's.
const repoFileSchema = z
  .strictObject({
    // pre-fetch runs before the commit is on disk, so only the host may set it.
    scripts: z.strictObject({ "pre-link": command.optional(), "post-deploy": command.optional() }).optional(),
    restart: command.optional(),
    healthCheck: healthCheckSchema.optional(),
  })
  .nullable();

export type RepoFile = NonNullable<z.output<typeof repoFileSchema>>;

export type Origin = "host" | "repository";

export interface DeployPlan {
  hooks: Partial<Record<HookName, { argv: string[]; from: Origin }>>;
  restart?: { argv: string[]; from: Origin };
  healthCheck?: { check: HealthCheckConfig; from: Origin };
  /** Keys the host set that the repository also set (the host's won), for the log. */
  overridden: string[];
}

export class RepoFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RepoFileError";
  }
}

/** Parses deploykit.yml; `where` names it in errors (`deploykit.yml at 1a2b3c4`). */
export function parseRepoFile(text: string, where: string): RepoFile {
  let parsed: unknown;
  try {
    parsed = YAML.parse(text);
  } catch (err) {
    throw new RepoFileError(`${where} is not valid YAML: ${(err as Error).message}`);
  }
  const result = repoFileSchema.safeParse(parsed);
  if (!result.success) throw new RepoFileError(`${where}: ${describeIssues(result.error)} (it may set scripts.pre-link, scripts.post-deploy, restart and healthCheck only)`);
  return result.data ?? {};
}

/**
 * The host's apps.d entry wins over deploykit.yml, key by key: a hook,
 * restart or healthCheck the operator set replaces the repository's; what the
 * operator left out, the repository fills in.
 */
export function deployPlan(app: AppConfig, repo: RepoFile | undefined): DeployPlan {
  const overridden: string[] = [];
  const pick = <T>(key: string, host: T | undefined, fromRepo: T | undefined): { value: T; from: Origin } | undefined => {
    if (host !== undefined) {
      if (fromRepo !== undefined) overridden.push(key);
      return { value: host, from: "host" };
    }
    return fromRepo === undefined ? undefined : { value: fromRepo, from: "repository" };
  };
  const hooks: DeployPlan["hooks"] = {};
  for (const hook of hookNames) {
    const fromRepo = hook === "pre-fetch" ? undefined : repo?.scripts?.[hook];
    const chosen = pick(`scripts.${hook}`, app.scripts[hook], fromRepo);
    if (chosen) hooks[hook] = { argv: chosen.value, from: chosen.from };
  }
  const restart = pick("restart", app.restart, repo?.restart);
  const healthCheck = pick("healthCheck", app.healthCheck, repo?.healthCheck);
  return {
    hooks,
    ...(restart ? { restart: { argv: restart.value, from: restart.from } } : {}),
    ...(healthCheck ? { healthCheck: { check: healthCheck.value, from: healthCheck.from } } : {}),
    overridden,
  };
}
