import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { Subscription } from "../../shared/bus/bus.ts";
import type { DaemonContext, Stop } from "../../shared/daemon.ts";
import type { BodyInput } from "../../shared/messages/index.ts";
import { maskedUrl } from "../../shared/git/clone-url.ts";
import type { RepoFetcherConfig } from "./config.ts";
import { type Answer, FetchQueue } from "./fetch-queue.ts";
import { gitUser } from "./git-user.ts";
import { Limiter } from "./limiter.ts";
import { Mirror } from "../../shared/git/mirror.ts";
import { type RepoEntry, readReposFile } from "./repos-file.ts";
import { type Routing, routeBuild, routeCommit } from "./route-message.ts";

// setTimeout takes at most 2^31-1 ms; a longer interval would fire at once.
const longestTimer = 2 ** 31 - 1;
// The first periodic fetch waits a random part of this, so a fleet restarted at once does not hit the git server together.
const longestFirstDelay = 60_000;
// A periodic answer lists at most this many changed refs (changeCount has them all).
const listedChanges = 100;

/** repo-fetcher's start, loaded only when it runs: other CLI commands are spared the mirror, the repos file reader and the fetch queues. */
export async function startRepoFetcher({ config, bus, log, host }: DaemonContext<RepoFetcherConfig>): Promise<Stop> {
  if (config.concurrency < 1) throw new Error("repo-fetcher.concurrency must be at least 1: set DEPLOYKIT_REPO_FETCHER_CONCURRENCY or repo-fetcher.concurrency");
  const { repos, files } = readReposFile(config.reposFile, config.mirrorDir);
  if (repos.length === 0) log.warn({ reposFile: config.reposFile }, "no repositories configured: this host carries none (see docs/repo-fetcher.md)");

  const stopping = new AbortController();
  const limiter = new Limiter(config.concurrency);
  const publishing = new Set<Promise<void>>();
  const queues = new Map<RepoEntry, FetchQueue>();

  const report = (repo: RepoEntry, answer: Answer, repoLog: Logger) => {
    const { trigger } = answer;
    if (stopping.signal.aborted) {
      repoLog.info({ trigger: trigger.kind, error: answer.error }, "stopping: fetch result not published");
      return;
    }
    if (trigger.kind === "periodic" && !answer.error && answer.changes.length === 0) {
      repoLog.debug({ durationMs: answer.durationMs }, "periodic fetch: nothing new");
      return;
    }
    const body: BodyInput<"repos.fetched"> = {
      host,
      repo: repo.name,
      ref: trigger.ref,
      sha: answer.sha,
      path: repo.path,
      durationMs: answer.durationMs,
      ...(answer.error === undefined ? {} : { error: answer.error }),
      trigger: trigger.kind,
      fetched: answer.fetched,
      ...(answer.cloned ? { cloned: true } : {}),
      ...(trigger.kind === "deletion" ? { deleted: true } : {}),
      ...(trigger.kind === "periodic" ? { changes: answer.changes.slice(0, listedChanges), changeCount: answer.changes.length } : {}),
    };
    const published = bus.publish("repos.fetched", body, { correlationId: trigger.correlationId }).then(
      () => repoLog.debug({ trigger: trigger.kind, sha: answer.sha, error: answer.error }, "published repos.fetched"),
      (err: unknown) => repoLog.warn({ err, trigger: trigger.kind }, "could not publish repos.fetched"),
    );
    publishing.add(published);
    void published.finally(() => publishing.delete(published));
  };

  for (const repo of repos) {
    const user = repo.user ? await gitUser(repo.user, repo.name, repo.file) : undefined;
    const mirror = new Mirror({ url: repo.url, path: repo.path, user, timeoutMs: config.fetchTimeout, signal: stopping.signal });
    const repoLog = log.child({ repo: repo.name });
    queues.set(repo, new FetchQueue(mirror, limiter, repoLog, (answer) => report(repo, answer, repoLog)));
    log.info({ repo: repo.name, url: maskedUrl(repo.url), path: repo.path, fetchOn: repo.fetchOn, user: repo.user }, "carrying repository");
  }
  log.info({ repos: repos.length, files }, "repositories read");

  const route = (routing: Routing, messageLog: Logger) => {
    if ("ignored" in routing) {
      if (routing.ignored.startsWith("refused")) messageLog.warn({ reason: routing.ignored }, "message refused");
      else messageLog.debug({ reason: routing.ignored }, "message ignored");
      return;
    }
    for (const { repo, trigger } of routing.routed) queues.get(repo)?.add(trigger);
  };

  // Plain (broadcast) subscriptions: every host that carries a repository fetches it.
  // Handlers only queue the request, so requests arriving together are coalesced.
  const subscriptions: Subscription[] = [];
  try {
    subscriptions.push(await bus.subscribe("builds", (message, context) => route(routeBuild(message, repos, performance.now()), context.log)));
    subscriptions.push(await bus.subscribe("git.commits", (message, context) => route(routeCommit(message, repos, performance.now()), context.log)));
  } catch (err) {
    await Promise.allSettled(subscriptions.map((subscription) => subscription.unsubscribe()));
    throw err;
  }

  let timer: NodeJS.Timeout | undefined;
  if (config.interval > 0 && repos.length > 0) {
    const interval = Math.min(config.interval, longestTimer);
    const tick = () => {
      for (const queue of queues.values()) queue.add({ kind: "periodic", receivedAt: performance.now() });
      timer = setTimeout(tick, interval);
    };
    timer = setTimeout(tick, Math.floor(Math.random() * Math.min(interval, longestFirstDelay)));
  }

  // A fetch cut short is safe to run again: git kills are clean, and the
  // periodic fetch after the next start catches up.
  return async () => {
    clearTimeout(timer);
    stopping.abort();
    await Promise.allSettled(subscriptions.map((subscription) => subscription.unsubscribe()));
    await Promise.all([...queues.values()].map((queue) => queue.stop()));
    await Promise.allSettled(publishing);
  };
}
