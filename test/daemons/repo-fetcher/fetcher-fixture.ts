import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ExecutionContext } from "ava";
import { execa } from "execa";
import YAML from "yaml";
import type { Bus } from "../../../shared/bus/bus.ts";
import type { Envelope } from "../../../shared/messages/index.ts";
import { repoFetcher } from "../../../daemons/repo-fetcher/index.ts";
import type { RepoFetcherConfig } from "../../../daemons/repo-fetcher/config.ts";
import { captureLog } from "../../helpers/capture-log.ts";
import { gitEnv } from "../../helpers/git-env.ts";
import { tempDir as makeTempDir } from "../../helpers/temp-dir.ts";
import { testBus, uniquePrefix, waitFor } from "../../helpers/test-bus.ts";

// Real git repositories and a real daemon on a bus, for the repo-fetcher tests.


export function tempDir(t: ExecutionContext, prefix = "dk-rf-"): string {
  return makeTempDir(t, prefix);
}

export async function git(gitDir: string, args: string[]): Promise<string> {
  return (await execa("git", args, { env: { ...gitEnv, GIT_DIR: gitDir } })).stdout;
}

/** A bare repository standing in for the git server, reached by path or file:// URL. */
export class SourceRepo {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  static async create(t: ExecutionContext): Promise<SourceRepo> {
    const dir = join(tempDir(t, "dk-rf-src-"), "web.git");
    await execa("git", ["init", "--bare", "--quiet", "--initial-branch=main", dir], { env: gitEnv });
    return new SourceRepo(dir);
  }

  get url(): string {
    return `file://${this.dir}`;
  }

  /** A new commit on `ref` (created if missing); returns its id. */
  async commit(ref = "refs/heads/main", message = `change ${randomUUID()}`): Promise<string> {
    const tree = await git(this.dir, ["hash-object", "-t", "tree", "-w", "/dev/null"]);
    let parent: string | undefined;
    try {
      parent = await git(this.dir, ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]);
    } catch {
      parent = undefined;
    }
    const sha = await git(this.dir, ["commit-tree", tree, ...(parent ? ["-p", parent] : []), "-m", message]);
    await git(this.dir, ["update-ref", ref, sha]);
    return sha;
  }

  async tag(name: string, target: string): Promise<string> {
    await git(this.dir, ["tag", "-a", "-m", name, name, target]);
    return git(this.dir, ["rev-parse", `refs/tags/${name}`]);
  }

  async deleteRef(ref: string): Promise<void> {
    await git(this.dir, ["update-ref", "-d", ref]);
  }
}

/** Branches and tags of a mirror, ref -> object id. */
export async function mirrorRefs(mirror: string): Promise<Record<string, string>> {
  const output = await git(mirror, ["for-each-ref", "--format=%(refname) %(objectname)"]);
  return Object.fromEntries(
    output
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => line.split(" ") as [string, string]),
  );
}

export interface RepoFetchedBody {
  host: string;
  repo: string;
  ref?: string;
  sha?: string;
  path: string;
  durationMs: number;
  error?: string;
  trigger: string;
  fetched: boolean;
  cloned?: boolean;
  deleted?: boolean;
  changes?: { ref: string; sha: string | null }[];
  changeCount?: number;
}

export interface RunningFetcher {
  /** Publishes what the git server side would (builds, git.commits). */
  publisher: Bus;
  /** The topic prefix of the fetcher's bus. */
  prefix: string;
  answers: Envelope<RepoFetchedBody>[];
  lines: Record<string, unknown>[];
  dir: string;
  mirrorDir: string;
  stop(): Promise<void>;
  /** The answer carrying this correlationId, once it arrives. */
  answerFor(correlationId: string, timeoutMs?: number): Promise<Envelope<RepoFetchedBody>>;
  /** Publishes a succeeded builds.v1; returns its correlationId. */
  build(fields: { repo?: string; ref?: string; sha?: string; phase?: string }): Promise<string>;
  /** Publishes git.commits.v1 for a push (or, with deleted, a deletion); returns its correlationId. */
  push(fields: { repo?: string; urls?: string[]; ref?: string; after: string; deleted?: boolean }): Promise<string>;
  /** How many fetches (and clones) ran. */
  fetches(): number;
}

export interface FetcherOptions {
  repos: Record<string, unknown>[];
  config?: Partial<RepoFetcherConfig>;
  /** Defaults to a fresh memory:// bus. */
  busUrl?: string;
}

const zeros = "0".repeat(40);

export async function startFetcher(t: ExecutionContext, options: FetcherOptions): Promise<RunningFetcher> {
  const dir = tempDir(t);
  const mirrorDir = join(dir, "mirrors");
  const reposFile = join(dir, "repos.yaml");
  writeFileSync(reposFile, YAML.stringify({ repos: options.repos }));
  const url = options.busUrl ?? `memory://${uniquePrefix()}`;
  const prefix = uniquePrefix();
  const bus = testBus(url, prefix);
  const publisher = testBus(url, prefix);
  const answers: Envelope<RepoFetchedBody>[] = [];
  await publisher.subscribe("repos.fetched", (message) => void answers.push(message as unknown as Envelope<RepoFetchedBody>));
  const { log, lines } = captureLog();
  const config: RepoFetcherConfig = { reposFile, mirrorDir, interval: 0, fetchTimeout: 15_000, concurrency: 4, ...options.config };
  let stopDaemon: () => Promise<void>;
  try {
    stopDaemon = await repoFetcher.start({ config, bus, log, host: "web-1", signal: new AbortController().signal, announce: () => {} });
  } catch (err) {
    await Promise.all([bus.close({ graceMs: 0 }), publisher.close({ graceMs: 0 })]);
    throw err;
  }
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= stopDaemon().finally(() => Promise.all([bus.close({ graceMs: 0 }), publisher.close({ graceMs: 0 })]));
    return stopped;
  };
  t.teardown(stop);
  return {
    publisher,
    prefix,
    answers,
    lines,
    dir,
    mirrorDir,
    stop,
    async answerFor(correlationId, timeoutMs = 10_000) {
      await waitFor(() => answers.some((a) => a.correlationId === correlationId), timeoutMs, `repos.fetched for ${correlationId}`);
      return answers.find((a) => a.correlationId === correlationId) as Envelope<RepoFetchedBody>;
    },
    async build({ repo = "acme/web", ref = "refs/heads/main", sha, phase = "succeeded" }) {
      const correlationId = randomUUID();
      await publisher.publish(
        "builds",
        { job: "web", number: 1, phase: phase as "succeeded", repo, ref, sha },
        { correlationId },
      );
      return correlationId;
    },
    async push({ repo = "acme/web", urls = [], ref = "refs/heads/main", after, deleted = false }) {
      const correlationId = randomUUID();
      await publisher.publish(
        "git.commits",
        {
          repo: { name: repo, urls },
          ref,
          before: zeros,
          after: deleted ? zeros : after,
          created: false,
          deleted,
          forced: false,
          commits: [],
          pusher: { name: "dev" },
          provider: "git-hook",
        },
        { correlationId },
      );
      return correlationId;
    },
    fetches: () => lines.filter((line) => line.msg === "fetched" || line.msg === "cloned a new mirror").length,
  };
}
