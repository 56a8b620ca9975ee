import type { AnyDaemon } from "../shared/daemon.ts";
import { broker } from "./broker/index.ts";
import { busToJenkins } from "./bus-to-jenkins/index.ts";
import { conductor } from "./conductor/index.ts";
import { deployAgent } from "./deploy-agent/index.ts";
import { githubToBus } from "./github-to-bus/index.ts";
import { jenkinsStatus } from "./jenkins-status/index.ts";
import { keepalive } from "./keepalive/index.ts";
import { packageWatcher } from "./package-watcher/index.ts";
import { repoFetcher } from "./repo-fetcher/index.ts";

/** Every daemon deploykit ships, in one explicit list; `deploykit up` starts them in this order (the broker first). */
export const daemons: readonly AnyDaemon[] = [
  broker,
  keepalive,
  githubToBus,
  busToJenkins,
  jenkinsStatus,
  repoFetcher,
  packageWatcher,
  // Before the agent, so the conductor hears the agent's startup message and can deploy to it at once.
  conductor,
  deployAgent,
];

export function findDaemon(name: string): AnyDaemon | undefined {
  return daemons.find((daemon) => daemon.name === name);
}
