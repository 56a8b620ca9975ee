import type { Logger } from "pino";
import type { Bus } from "../../shared/bus/bus.ts";
import type { DaemonContext, Stop } from "../../shared/daemon.ts";
import { type BusToJenkinsConfig, defaultJobsFile } from "./config.ts";
import { JenkinsClient, JenkinsError } from "./jenkins-client.ts";
import { type Commit, type JobRule, loadJobsFile } from "./jobs-file.ts";
import { GaveUpError, type RetryPolicy, retryTrigger } from "./retry-trigger.ts";

const zeroSha = /^0+$/;

function jenkinsUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`bus-to-jenkins.url "${value}" is not a URL: set it to Jenkins' root, such as https://ci.example.com/jenkins`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`bus-to-jenkins.url must be http:// or https://, not ${url.protocol}`);
  if (url.username || url.password) throw new Error("bus-to-jenkins.url holds credentials: put them in bus-to-jenkins.user and bus-to-jenkins.apiToken instead");
  return value;
}

function describe(commit: Commit): string {
  return `${commit.repo.name} ${commit.ref} ${commit.after.slice(0, 12)}`;
}

/** bus-to-jenkins's start, loaded only when it runs: other CLI commands are spared the Jenkins client and the jobs file reader. */
export async function startBusToJenkins({ config, bus, log }: DaemonContext<BusToJenkinsConfig>): Promise<Stop> {
  // An unconfigured member must not join the group: it would take commits and trigger nothing.
  if (!config.url) {
    log.warn("bus-to-jenkins.url is not set: not subscribing, no build will be triggered (set DEPLOYKIT_BUS_TO_JENKINS_URL)");
    return async () => {};
  }
  const url = jenkinsUrl(config.url);
  const rules = loadJobsFile(config.jobsFile, { optional: config.jobsFile === defaultJobsFile });
  if (!rules || rules.length === 0) {
    log.warn({ jobsFile: config.jobsFile }, `${rules ? "the jobs file maps nothing" : `${config.jobsFile} does not exist`}: not subscribing, no build will be triggered (see docs/jenkins.md)`);
    return async () => {};
  }
  const client = new JenkinsClient({ url, user: config.user, apiToken: config.apiToken, requestTimeoutMs: config.requestTimeout });
  const policy: RetryPolicy = { attempts: config.attempts, initialMs: config.retryMin, maxMs: config.retryMax, giveUpAfterMs: config.giveUpAfter };
  log.info({ jenkins: client.base, jobs: rules.map((r) => r.job.name), jobsFile: config.jobsFile }, "triggering Jenkins jobs for pushes");

  await bus.subscribe(
    "git.commits",
    async (message, context) => {
      const commit = message.body;
      const msgLog = log.child({ msgId: message.id, correlationId: message.correlationId });
      if (commit.deleted || zeroSha.test(commit.after)) {
        msgLog.debug({ repo: commit.repo.name, ref: commit.ref }, "ref deleted: nothing to build");
        return;
      }
      const matching = rules.filter((rule) => rule.matches(commit));
      if (matching.length === 0) {
        msgLog.debug({ repo: commit.repo.name, ref: commit.ref }, "no job for this push");
        return;
      }
      for (const rule of matching) {
        await trigger({ rule, commit, correlationId: message.correlationId, client, policy, bus, log: msgLog, signal: context.signal });
      }
    },
    {
      group: config.group,
      concurrency: Math.max(1, config.concurrency),
      // Room for every retry and the publish after it: a trigger that gives up is reported, not dead-lettered.
      handlerTimeoutMs: config.giveUpAfter + config.requestTimeout * 2 + 10_000,
    },
  );
  // Nothing to undo here: bus.close() hands back what has not started and
  // lets a trigger in progress finish (or be handed back) before it unsubscribes.
  return async () => {};
}

interface TriggerInput {
  rule: JobRule;
  commit: Commit;
  correlationId: string;
  client: JenkinsClient;
  policy: RetryPolicy;
  bus: Bus;
  log: Logger;
  signal: AbortSignal;
}

async function trigger({ rule, commit, correlationId, client, policy, bus, log, signal }: TriggerInput): Promise<void> {
  const job = rule.job.name;
  const parameters = rule.parameters(commit, correlationId);
  const jobLog = log.child({ job, repo: commit.repo.name, ref: commit.ref, sha: commit.after });
  try {
    const queued = await retryTrigger(
      () => client.trigger(rule.job, parameters, signal),
      policy,
      signal,
      (err, attempt, delayMs) => jobLog.warn({ err: err.message, attempt, delayMs }, "Jenkins did not take the build; retrying"),
    );
    const sha = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(commit.after) ? commit.after : undefined;
    await bus.publish(
      "builds",
      { job, phase: "queued", queueId: queued.queueId, url: queued.location, repo: commit.repo.name.toLowerCase(), ref: commit.ref, sha },
      { correlationId },
    );
    jobLog.info({ queueId: queued.queueId, url: queued.location }, `queued ${job} for ${describe(commit)}`);
  } catch (err) {
    // Shutdown: let the bus hand the message back to another member of the group.
    if (signal.aborted) throw err;
    if (!(err instanceof JenkinsError) && !(err instanceof GaveUpError)) throw err;
    const text = `bus-to-jenkins: ${job} was not triggered for ${describe(commit)}: ${err.message}`;
    jobLog.error({ err: err.message, status: err instanceof JenkinsError ? err.status : err.last.status, jobsFileEntry: rule.where }, text);
    await bus.publish("events", { text, level: "error" }, { correlationId });
  }
}
