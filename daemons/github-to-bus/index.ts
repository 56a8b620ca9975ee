import type { Daemon } from "../../shared/daemon.ts";
import { type GithubToBusConfig, githubToBusConfig } from "./config.ts";

/**
 * Turns verified push webhooks from GitHub, GitLab, Gitea/Forgejo (and our
 * own generic JSON) into git.commits messages. A delivery is answered only
 * once the broker confirmed its message; when the bus is down the answer is
 * 503, so the sender keeps the event and delivers it again.
 */
export const githubToBus: Daemon<GithubToBusConfig> = {
  name: "github-to-bus",
  description: "verifies push webhooks (GitHub, GitLab, Gitea/Forgejo, generic) and publishes them to git.commits",
  config: githubToBusConfig,
  async start(context) {
    const { startGithubToBus } = await import("./start-github-to-bus.ts");
    return startGithubToBus(context);
  },
};
