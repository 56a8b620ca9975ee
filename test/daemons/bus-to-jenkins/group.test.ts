import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { busToJenkins } from "../../../daemons/bus-to-jenkins/index.ts";
import type { Commit } from "../../../daemons/bus-to-jenkins/jobs-file.ts";
import type { BodyOf, Envelope } from "../../../shared/messages/index.ts";
import { captureLog } from "../../helpers/capture-log.ts";
import { gitPushBody } from "../../helpers/git-push-body.ts";
import { startTestBroker } from "../../helpers/embedded-broker.ts";
import { startFakeJenkins } from "../../helpers/fake-jenkins.ts";
import { testBus, uniquePrefix, waitFor } from "../../helpers/test-bus.ts";

function commit(n: number): Commit {
  const sha = n.toString(16).padStart(40, "0").replace(/^0/, "a");
  return gitPushBody({ after: sha }) as Commit;
}

test("two instances on one broker share the group: each push triggers its build exactly once", async (t) => {
  const broker = await startTestBroker();
  const jenkins = await startFakeJenkins({ jobs: ["team/shop/main"] });
  const prefix = uniquePrefix();
  const jobsFile = join(mkdtempSync(join(tmpdir(), "dk-b2j-")), "jenkins-jobs.yaml");
  writeFileSync(jobsFile, "jobs:\n  - repo: acme/shop\n    job: team/shop/main\n");
  const buses = [testBus(broker.url, prefix), testBus(broker.url, prefix), testBus(broker.url, prefix)];
  t.teardown(async () => {
    for (const bus of buses) await bus.close({ graceMs: 0 });
    await jenkins.close();
    await broker.close();
  });
  const [first, second, client] = buses as [(typeof buses)[0], (typeof buses)[0], (typeof buses)[0]];
  const config = {
    url: jenkins.url,
    user: jenkins.user,
    apiToken: jenkins.token,
    jobsFile,
    group: "bus-to-jenkins",
    attempts: 3,
    retryMin: 50,
    retryMax: 200,
    giveUpAfter: 2_000,
    requestTimeout: 2_000,
    concurrency: 1,
  };
  const logs = [captureLog(), captureLog()];
  for (const [i, bus] of [first, second].entries()) {
    await bus.connected(10_000);
    await busToJenkins.start({ config, bus, log: (logs[i] as ReturnType<typeof captureLog>).log, host: `ci-${i + 1}`, signal: new AbortController().signal, announce: () => {} });
  }
  await client.connected(10_000);
  const builds: Envelope<BodyOf<"builds">>[] = [];
  await client.subscribe("builds", (m) => void builds.push(m));

  const pushes = 12;
  for (let n = 1; n <= pushes; n++) await client.publish("git.commits", commit(n));
  await jenkins.waitForTriggers(pushes, 15_000);
  await waitFor(() => builds.length === pushes, 10_000, "a queued build per push");
  // Time for a second delivery to show up, if there were one.
  await new Promise((resolve) => setTimeout(resolve, 500));

  t.is(jenkins.triggers.length, pushes, "one trigger per push, not one per instance");
  const shas = jenkins.triggers.map((tr) => tr.parameters.DEPLOYKIT_SHA);
  t.is(new Set(shas).size, pushes);
  t.is(builds.length, pushes);
  const handled = logs.map(({ lines }) => lines.filter((l) => String(l.msg).startsWith("queued team/shop/main")).length);
  t.log(`pushes handled per instance: ${handled.join(", ")}`);
  t.is((handled[0] ?? 0) + (handled[1] ?? 0), pushes);
});
