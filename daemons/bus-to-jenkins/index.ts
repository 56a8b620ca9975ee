import type { Daemon } from "../../shared/daemon.ts";
import { type BusToJenkinsConfig, busToJenkinsConfig } from "./config.ts";

/**
 * Triggers Jenkins builds for pushes: each `git.commits` message is matched
 * against the jobs file, and every job it maps to is queued through Jenkins'
 * remote API and announced as `builds.v1` phase queued. The instances share
 * one bus group, so running two for availability still triggers each build once.
 */
export const busToJenkins: Daemon<BusToJenkinsConfig> = {
  name: "bus-to-jenkins",
  description: "triggers Jenkins jobs for pushes and reports them queued",
  config: busToJenkinsConfig,
  async start(context) {
    const { startBusToJenkins } = await import("./start-bus-to-jenkins.ts");
    return startBusToJenkins(context);
  },
};
