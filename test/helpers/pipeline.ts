import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import type { Logger } from "pino";
import { daemons, findDaemon } from "../../daemons/index.ts";
import type { Bus } from "../../shared/bus/bus.ts";
import { readConfig } from "../../shared/config/read-config.ts";
import type { Envelope } from "../../shared/messages/index.ts";
import { type AllConfig, type RunningDaemon, configSections, startDaemon } from "../../shared/run-daemon.ts";
import { runGit } from "../../shared/run-git.ts";
import { type FakeJenkins, startFakeJenkins } from "./fake-jenkins.ts";
import { silent, testBus } from "./test-bus.ts";

// The front half of the flow, wired as an operator wires it, on temporary
// directories: a bare repository with the post-receive hook installed,
// bus-to-jenkins pointed at a stand-in Jenkins that "builds" every trigger
// and reports success to jenkins-status, and N repo-fetchers, each its own
// "server" with its own mirror directory and host name. Every daemon is the
// real one, started with startDaemon from configuration read the real way,
// each with its own bus connection. Used by the end-to-end test and by
// bench/pipeline.

const root = new URL("../../../", import.meta.url).pathname;
export const deploykitBin = join(root, "bin", "deploykit");
export const pipelineRepo = "acme/shop";
const job = "team/shop/main";

export interface PipelineOptions {
  busUrl: string;
  prefix: string;
  fetchers: number;
  log?: Logger;
}

export interface Pipeline {
  dir: string;
  /** A work tree whose origin is the hooked bare repository. */
  work: string;
  bare: string;
  jenkins: FakeJenkins;
  /** Subscribed to git.commits, builds and repos.fetched before anything is pushed. */
  seen: { commits: Envelope<CommitBody>[]; builds: Envelope<BuildBody>[]; fetched: Envelope<FetchedBody>[] };
  watcher: Bus;
  /** Commits a change in the work tree and pushes it; resolves with the new sha once `git push` returned. */
  push(message: string): Promise<string>;
  mirror(index: number): string;
  stop(): Promise<void>;
}

export interface CommitBody {
  repo: { name: string };
  ref: string;
  after: string;
}
export interface BuildBody {
  job: string;
  phase: string;
  repo?: string;
  sha?: string;
}
export interface FetchedBody {
  host: string;
  repo: string;
  sha?: string;
  error?: string;
  path: string;
}

function hookEnv(options: PipelineOptions, dir: string): Record<string, string> {
  return {
    DEPLOYKIT_BIN: deploykitBin,
    DEPLOYKIT_CONFIG: "",
    DEPLOYKIT_BUS_URL: options.busUrl,
    DEPLOYKIT_BUS_PREFIX: options.prefix,
    DEPLOYKIT_BUS_HOST: "git-1",
    DEPLOYKIT_SPOOL_DIR: join(dir, "spool"),
    DEPLOYKIT_LOG_FORMAT: "json",
    GIT_AUTHOR_NAME: "Dev",
    GIT_AUTHOR_EMAIL: "dev@example.com",
    GIT_COMMITTER_NAME: "Dev",
    GIT_COMMITTER_EMAIL: "dev@example.com",
  };
}

async function startWith(name: string, env: Record<string, string>, log: Logger): Promise<RunningDaemon> {
  const daemon = findDaemon(name);
  if (!daemon) throw new Error(`no daemon ${name}`);
  const { values } = readConfig(configSections(daemons), { env: { PATH: process.env.PATH ?? "", ...env } });
  return startDaemon(daemon, values as AllConfig, log);
}

export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const log = options.log ?? silent;
  const dir = mkdtempSync(join(tmpdir(), "dk-pipeline-"));
  const bare = join(dir, "git", "acme", "shop.git");
  const work = join(dir, "work");
  const env = hookEnv(options, dir);
  const started: RunningDaemon[] = [];
  const jenkins = await startFakeJenkins({ jobs: [job] });
  const watcher = testBus(options.busUrl, options.prefix);
  const seen: Pipeline["seen"] = { commits: [], builds: [], fetched: [] };
  let stopped = false;
  let reporter: Promise<void> = Promise.resolve();
  const stop = async () => {
    stopped = true;
    await reporter.catch(() => {});
    for (const running of started.reverse()) await running.stop().catch(() => {});
    await watcher.close({ graceMs: 0 });
    await jenkins.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    mkdirSync(bare, { recursive: true });
    await runGit(["init", "--bare", "-q", "-b", "main", bare]);
    await runGit(["config", "deploykit.repo", pipelineRepo], { cwd: bare });
    await execa(deploykitBin, ["hook", "install", "git-post-receive", bare], { env: { ...env, PATH: process.env.PATH ?? "" }, extendEnv: false });
    await runGit(["init", "-q", "-b", "main", work]);
    await runGit(["remote", "add", "origin", bare], { cwd: work });

    await watcher.connected(10_000);
    await watcher.subscribe("git.commits", (m: Envelope<CommitBody>) => void seen.commits.push(m));
    await watcher.subscribe("builds", (m: Envelope<BuildBody>) => void seen.builds.push(m));
    await watcher.subscribe("repos.fetched", (m: Envelope<FetchedBody>) => void seen.fetched.push(m));

    const common = { DEPLOYKIT_BUS_URL: options.busUrl, DEPLOYKIT_BUS_PREFIX: options.prefix, DEPLOYKIT_BUS_RECONNECT_MIN: "100ms" };
    const status = await startWith("jenkins-status", { ...common, DEPLOYKIT_BUS_HOST: "ci-1", DEPLOYKIT_JENKINS_STATUS_PORT: "0" }, log);
    started.push(status);
    const statusUrl = status.urls.find((u) => u.what === "http")?.url as string;
    const jobsFile = join(dir, "jenkins-jobs.yaml");
    writeFileSync(jobsFile, `jobs:\n  - repo: ${pipelineRepo}\n    refs: [refs/heads/*]\n    job: ${job}\n`);
    started.push(
      await startWith(
        "bus-to-jenkins",
        {
          ...common,
          DEPLOYKIT_BUS_HOST: "ci-1",
          DEPLOYKIT_BUS_TO_JENKINS_URL: jenkins.url,
          DEPLOYKIT_BUS_TO_JENKINS_USER: jenkins.user,
          DEPLOYKIT_BUS_TO_JENKINS_API_TOKEN: jenkins.token,
          DEPLOYKIT_BUS_TO_JENKINS_JOBS_FILE: jobsFile,
        },
        log,
      ),
    );
    for (let i = 1; i <= options.fetchers; i++) {
      const reposFile = join(dir, `repos-web-${i}.yaml`);
      writeFileSync(reposFile, `repos:\n  - name: ${pipelineRepo}\n    url: ${bare}\n`);
      started.push(
        await startWith(
          "repo-fetcher",
          {
            ...common,
            DEPLOYKIT_BUS_HOST: `web-${i}`,
            DEPLOYKIT_REPO_FETCHER_REPOS_FILE: reposFile,
            DEPLOYKIT_REPO_FETCHER_MIRROR_DIR: join(dir, `mirrors-web-${i}`),
            DEPLOYKIT_REPO_FETCHER_INTERVAL: "0",
          },
          log,
        ),
      );
    }

    // The stand-in Jenkins "builds" each trigger at once and reports success, as the Notification plugin does.
    reporter = (async () => {
      let reported = 0;
      while (!stopped) {
        const triggers = await jenkins.waitForTriggers(reported + 1, 250).catch(() => undefined);
        if (!triggers) continue;
        for (const trigger of triggers.slice(reported)) {
          await jenkins.notify(`${statusUrl}/jenkins/notify`, jenkins.notification(trigger, "FINALIZED", "SUCCESS"));
        }
        reported = triggers.length;
      }
    })();
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    dir,
    work,
    bare,
    jenkins,
    seen,
    watcher,
    push: async (message) => {
      writeFileSync(join(work, "CHANGES"), `${message}\n`, { flag: "a" });
      await runGit(["add", "CHANGES"], { cwd: work, env });
      await runGit(["commit", "-q", "-m", message], { cwd: work, env });
      const sha = await runGit(["rev-parse", "HEAD"], { cwd: work });
      await execa("git", ["push", "-q", "origin", "main"], { cwd: work, env: { ...env, PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? dir }, extendEnv: false });
      return sha;
    },
    mirror: (index) => join(dir, `mirrors-web-${index}`, `${pipelineRepo}.git`),
    stop,
  };
}
