import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { busToJenkins } from "../../../daemons/bus-to-jenkins/index.ts";
import { jenkinsStatus } from "../../../daemons/jenkins-status/index.ts";
import type { BodyOf, Envelope } from "../../../shared/messages/index.ts";
import { captureLog } from "../../helpers/capture-log.ts";
import { startFakeJenkins } from "../../helpers/fake-jenkins.ts";
import { testBus, uniquePrefix, waitFor } from "../../helpers/test-bus.ts";
import { gitPushBody } from "../../helpers/git-push-body.ts";

const sha = "9b2f4c0d6e8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c";

test("a build bus-to-jenkins queued reports back through jenkins-status on the push's chain, with the same repo, ref and sha", async (t) => {
  const jenkins = await startFakeJenkins({ jobs: ["team/shop/main"] });
  const jobsFile = join(mkdtempSync(join(tmpdir(), "dk-rt-")), "jenkins-jobs.yaml");
  writeFileSync(jobsFile, "jobs:\n  - repo: acme/shop\n    job: team/shop/main\n");
  const url = `memory://${uniquePrefix()}`;
  const [triggerBus, statusBus, client] = [testBus(url, "dk"), testBus(url, "dk"), testBus(url, "dk")];
  const context = { log: captureLog().log, host: "ci-1", signal: new AbortController().signal };
  let notifyUrl = "";
  await busToJenkins.start({
    ...context,
    bus: triggerBus,
    announce: () => {},
    config: { url: jenkins.url, user: jenkins.user, apiToken: jenkins.token, jobsFile, group: "bus-to-jenkins", attempts: 2, retryMin: 50, retryMax: 100, giveUpAfter: 1_000, requestTimeout: 1_000, concurrency: 1 },
  });
  const stopStatus = await jenkinsStatus.start({
    ...context,
    bus: statusBus,
    announce: (what, where) => {
      if (what === "http") notifyUrl = `${where}/jenkins/notify`;
    },
    config: { host: "127.0.0.1", port: 0, token: "t0ken", maxBody: 1_048_576, publishTimeout: 2_000, jenkinsUrl: "" },
  });
  t.teardown(async () => {
    await stopStatus();
    for (const bus of [triggerBus, statusBus, client]) await bus.close({ graceMs: 0 });
    await jenkins.close();
  });
  const builds: Envelope<BodyOf<"builds">>[] = [];
  await client.subscribe("builds", (m) => void builds.push(m));

  const pushed = await client.publish("git.commits", gitPushBody({ after: sha }));
  const [trigger] = await jenkins.waitForTriggers(1);
  if (!trigger) return t.fail();
  const auth = { authorization: "Bearer t0ken" };
  for (const [phase, status] of [["STARTED", undefined], ["COMPLETED", "SUCCESS"]] as const) {
    const response = await jenkins.notify(notifyUrl, jenkins.notification(trigger, phase, status), auth);
    t.is(response.status, 202, `${phase}: ${await response.text()}`);
  }
  await waitFor(() => builds.length === 3, 5_000, "queued, started, succeeded");
  t.deepEqual(
    builds.map((b) => b.body.phase),
    ["queued", "started", "succeeded"],
  );
  t.true(builds.every((b) => b.correlationId === pushed.correlationId), "one chain from push to green build");
  for (const build of builds) t.like(build.body, { job: "team/shop/main", repo: "acme/shop", ref: "refs/heads/main", sha });
  t.is(builds[1]?.body.number, 1);
  t.is(builds[2]?.body.number, 1, "the same build");
  t.is(builds[2]?.body.queueId, builds[0]?.body.queueId);
});
