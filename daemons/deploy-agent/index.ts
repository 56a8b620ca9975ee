import type { Daemon } from "../../shared/daemon.ts";
import { type DeployAgentConfig, deployAgentConfig } from "./config.ts";

/**
 * The daemon on every server that deploys: it obeys signed deploy requests
 * meant for this host, runs each app's steps with its scripts as the app's
 * user, streams every step on deploy.progress, answers on deploy.results and
 * says what runs here on hosts.alive.
 */
export const deployAgent: Daemon<DeployAgentConfig> = {
  name: "deploy-agent",
  description: "deploys apps on this host on signed requests, streams each step, reports what runs here",
  config: deployAgentConfig,
  async start(context) {
    const { startDeployAgent } = await import("./start-deploy-agent.ts");
    return startDeployAgent(context);
  },
};
