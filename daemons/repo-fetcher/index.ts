import type { Daemon } from "../../shared/daemon.ts";
import { type RepoFetcherConfig, repoFetcherConfig } from "./config.ts";

/**
 * Keeps a bare mirror of each repository this host carries, so deploys check
 * out from a local copy: fetched when a build of a commit succeeds (or on
 * every push, per repository), pruned when a branch or tag is deleted, and
 * fetched periodically to catch up on what the bus did not deliver. Every
 * request is answered on repos.fetched with its correlationId.
 */
export const repoFetcher: Daemon<RepoFetcherConfig> = {
  name: "repo-fetcher",
  description: "keeps a local mirror of each repository this host carries, fetched on green builds, pushes and periodically",
  config: repoFetcherConfig,
  async start(context) {
    const { startRepoFetcher } = await import("./start-repo-fetcher.ts");
    return startRepoFetcher(context);
  },
};
