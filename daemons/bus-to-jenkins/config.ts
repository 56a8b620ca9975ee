import { defineConfig } from "../../shared/config/config-schema.ts";

export const defaultJobsFile = "/etc/deploykit/jenkins-jobs.yaml";

export const busToJenkinsConfig = defineConfig({
  url: {
    doc: "Jenkins' base URL (https://ci.example.com/jenkins); empty leaves the daemon idle, subscribed to nothing",
    format: "string",
    default: "",
  },
  user: { doc: "Jenkins user that triggers builds (needs Job/Build on the mapped jobs)", format: "string", default: "" },
  apiToken: { doc: "That user's Jenkins API token (not the password): basic auth user:token", format: "string", default: "", sensitive: true },
  jobsFile: {
    doc: "YAML file mapping repositories and ref patterns to Jenkins jobs and their parameters (docs/jenkins.md)",
    format: "string",
    default: defaultJobsFile,
  },
  group: {
    doc: "Bus group the instances share, so each commit triggers its builds once however many instances run",
    format: "string",
    default: "bus-to-jenkins",
  },
  attempts: { doc: "Tries per build trigger while Jenkins is down or answers 5xx", format: "nat", default: 6 },
  retryMin: { doc: "First delay before retrying a trigger; doubles per attempt, with jitter", format: "duration", default: 1_000 },
  retryMax: { doc: "Longest delay between two tries of one trigger", format: "duration", default: 15_000 },
  giveUpAfter: {
    doc: "Stop retrying one trigger after this long, log it and say so on the events topic",
    format: "duration",
    default: 45_000,
  },
  requestTimeout: { doc: "Longest one request to Jenkins may take", format: "duration", default: 10_000 },
  concurrency: { doc: "Commits handled at once; 1 triggers in the order the pushes arrived", format: "nat", default: 1 },
});

export type BusToJenkinsConfig = {
  url: string;
  user: string;
  apiToken: string;
  jobsFile: string;
  group: string;
  attempts: number;
  retryMin: number;
  retryMax: number;
  giveUpAfter: number;
  requestTimeout: number;
  concurrency: number;
};
