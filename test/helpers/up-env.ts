import { join } from "node:path";

/**
 * The environment `deploykit up --example` runs with in tests: nothing from
 * this machine's /etc or HOME, free ports, no facter, a fixed agent identity.
 */
export function upEnv(home: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    HOME: home,
    DEPLOYKIT_CONFIG: "",
    DEPLOYKIT_LOG_FORMAT: "json",
    DEPLOYKIT_LOG_LEVEL: "warn",
    DEPLOYKIT_BROKER_METRICS_PORT: "0",
    DEPLOYKIT_GITHUB_TO_BUS_PORT: "0",
    DEPLOYKIT_JENKINS_STATUS_PORT: "0",
    DEPLOYKIT_REPO_FETCHER_REPOS_FILE: join(home, "repos.d"),
    DEPLOYKIT_DEPLOY_AGENT_FACTER: "false",
    DEPLOYKIT_DEPLOY_AGENT_IDENTITY: "laptop",
    DEPLOYKIT_DEPLOY_AGENT_MIN_FREE_MEGABYTES: "1",
  };
}
