import type { Daemon } from "../../shared/daemon.ts";
import { type JenkinsStatusConfig, jenkinsStatusConfig } from "./config.ts";

/**
 * Turns the Jenkins Notification plugin's calls into `builds.v1` messages
 * carrying repo, ref and sha, so later steps can gate a deploy on a green
 * build of exactly that commit. A notification is answered 202 only once the
 * broker has the message; 503 when the bus is down, so nothing is lost silently.
 */
export const jenkinsStatus: Daemon<JenkinsStatusConfig> = {
  name: "jenkins-status",
  description: "publishes Jenkins build status from the Notification plugin (POST /jenkins/notify)",
  config: jenkinsStatusConfig,
  async start(context) {
    const { startJenkinsStatus } = await import("./start-jenkins-status.ts");
    return startJenkinsStatus(context);
  },
};
