// The fleet the overview shows, written before the conductor starts: one
// small real repository (tags v0.9.0 and v1.0.0), apps app-01 … app-NN in the
// conductor's apps.d, each with a staging and a production environment, and
// a SQLite ledger holding every app's hosts as their last hosts.alive left
// them (the conductor's HostRegistry.load() reads them at start), two
// succeeded deploys per environment and a few locks. One production host of
// every app still runs v0.9.0, so the overview has "differs" rows to show.
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { execa } from "execa";
import YAML from "yaml";
import { createToken } from "../../daemons/conductor/api-tokens.ts";
import type { Ledger } from "../../daemons/conductor/ledger/ledger.ts";
import { openLedger } from "../../daemons/conductor/ledger/open-ledger.ts";
import { writeKeyPair } from "../../shared/write-key-pair.ts";
import { gitEnv } from "../../test/helpers/git-env.ts";

export interface FleetShape {
  apps: number;
  stagingHostsPerApp: number;
  productionHostsPerApp: number;
  /** Every this-many-th app has its production locked. */
  lockEvery: number;
}

export const defaultShape: FleetShape = { apps: 50, stagingHostsPerApp: 2, productionHostsPerApp: 8, lockEvery: 10 };

export interface FleetSeed {
  shape: FleetShape;
  appsDir: string;
  tokensFile: string;
  /** An admin token: the web UI shows everything, Deploy links included. */
  token: string;
  signingKey: string;
  database: string;
  mirrorDir: string;
  repoUrl: string;
  environments: number;
  hosts: number;
  /** Hosts running another release than their environment's current. */
  differing: number;
  locked: number;
}

interface Tag {
  ref: string;
  sha: string;
}

const actor = "ada";

export const appName = (index: number) => `app-${String(index + 1).padStart(2, "0")}`;

export async function seedFleet(base: string, shape: FleetShape = defaultShape): Promise<FleetSeed> {
  const dir = join(base, "conductor");
  const appsDir = join(dir, "apps.d");
  mkdirSync(appsDir, { recursive: true });
  const [old, current] = await createRepo(join(base, "repo"));
  const repoUrl = pathToFileURL(join(base, "repo", "app.git")).href;
  for (let i = 0; i < shape.apps; i++) {
    const app = {
      url: repoUrl,
      description: `bench app ${i + 1}`,
      environments: [
        { name: "staging", target: { facts: { env: "staging" } }, rollout: { canary: 0, batch: "100%" } },
        { name: "production", target: { facts: { env: "production" } }, rollout: { canary: 1, batch: "25%", failureBudget: 0 } },
      ],
    };
    writeFileSync(join(appsDir, `${appName(i)}.yaml`), YAML.stringify(app));
  }
  const tokensFile = join(dir, "tokens.yaml");
  const token = createToken(tokensFile, { name: actor, role: "admin" });
  const { privateKey } = writeKeyPair(join(dir, "keys"), "conductor");
  const database = `sqlite:${join(dir, "ledger.sqlite")}`;

  const ledger = await openLedger(database);
  let hosts = 0;
  let differing = 0;
  let locked = 0;
  try {
    const now = Date.now();
    const lastSeen = new Date(now).toISOString();
    for (let i = 0; i < shape.apps; i++) {
      const app = appName(i);
      for (const [environment, count] of [
        ["staging", shape.stagingHostsPerApp],
        ["production", shape.productionHostsPerApp],
      ] as const) {
        await succeededDeploy(ledger, app, environment, old, null, now - 2 * 86_400_000);
        const since = await succeededDeploy(ledger, app, environment, current, old.sha, now - 3 * 3_600_000 - i * 60_000);
        for (let n = 1; n <= count; n++) {
          // The last production host missed the latest deploy.
          const behind = environment === "production" && n === count;
          const tag = behind ? old : current;
          const at = behind ? new Date(now - 2 * 86_400_000).toISOString() : since;
          await ledger.upsertHost({
            host: `${app}-${environment}-${n}`,
            lastSeen,
            event: "alive",
            facts: { env: environment },
            classes: [],
            apps: { [app]: { release: releaseId(at, tag.sha), ref: tag.ref, sha: tag.sha, since: at, health: "ok" } },
            agentVersion: "0.1.0",
          });
          hosts += 1;
          if (behind) differing += 1;
        }
      }
      if ((i + 1) % shape.lockEvery === 0) {
        await ledger.setLock({ app, environment: "production", actor, reason: "release freeze until the audit is done", createdAt: lastSeen, expiresAt: null });
        locked += 1;
      }
    }
  } finally {
    await ledger.close();
  }
  return {
    shape,
    appsDir,
    tokensFile,
    token,
    signingKey: privateKey,
    database,
    mirrorDir: join(dir, "mirrors"),
    repoUrl,
    environments: 2 * shape.apps,
    hosts,
    differing,
    locked,
  };
}

/** A deploy as the conductor leaves one that went well; returns when it finished. */
async function succeededDeploy(ledger: Ledger, app: string, environment: string, tag: Tag, previousSha: string | null, finishedAtMs: number): Promise<string> {
  const deploy = await ledger.createDeploy({ uid: randomUUID(), app, environment, action: "deploy", ref: tag.ref, sha: tag.sha, previousSha, rollbackOf: null, actor, forced: false, requestedHosts: null });
  const finishedAt = new Date(finishedAtMs).toISOString();
  await ledger.updateDeploy(deploy.id, { state: "succeeded", startedAt: new Date(finishedAtMs - 40_000).toISOString(), finishedAt });
  return finishedAt;
}

/** The deploy agent's release id: YYYYMMDDTHHMMSSZ-<12 hex of the sha>. */
function releaseId(iso: string, sha: string): string {
  return `${iso.slice(0, 19).replace(/[-:]/g, "")}Z-${sha.slice(0, 12)}`;
}

/** A two-commit repository, tagged v0.9.0 and v1.0.0, pushed to <dir>/app.git. */
async function createRepo(dir: string): Promise<[Tag, Tag]> {
  const work = join(dir, "work");
  const bare = join(dir, "app.git");
  const git = async (args: string[]) => (await execa("git", args, { cwd: work, env: gitEnv })).stdout;
  await execa("git", ["init", "--quiet", "--initial-branch=main", work], { env: gitEnv });
  await execa("git", ["init", "--quiet", "--bare", bare], { env: gitEnv });
  const tags: Tag[] = [];
  for (const ref of ["v0.9.0", "v1.0.0"]) {
    writeFileSync(join(work, "index.html"), `<!doctype html><title>bench</title><p>${ref}</p>\n`);
    await git(["add", "--all"]);
    await git(["commit", "--quiet", "-m", `release ${ref}`]);
    await git(["tag", "-a", "-m", ref, ref]);
    tags.push({ ref, sha: await git(["rev-parse", "HEAD"]) });
  }
  await git(["push", "--quiet", bare, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]);
  return tags as [Tag, Tag];
}
