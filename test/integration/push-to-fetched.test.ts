import test from "ava";
import { runGit } from "../../shared/run-git.ts";
import { brokers } from "../helpers/brokers.ts";
import { startTestBroker } from "../helpers/embedded-broker.ts";
import { pipelineRepo, startPipeline } from "../helpers/pipeline.ts";
import { uniquePrefix, waitFor } from "../helpers/test-bus.ts";

// The front half of the flow, end to end, on the embedded broker and on
// RabbitMQ: a push to a bare repository with the post-receive hook installed
// becomes git.commits; bus-to-jenkins triggers the stand-in Jenkins, which
// reports success to jenkins-status; builds reaches the repo-fetchers of two
// "servers", which fetch the pushed commit and say so on repos.fetched. One
// correlationId runs through all of it.

const embedded = await startTestBroker();
test.after.always(() => embedded.close());

const targets = [
  { name: "embedded", url: embedded.url },
  { name: "rabbitmq-stomp", url: brokers.find((b) => b.name === "rabbitmq-stomp")?.url as string },
];

for (const target of targets) {
  test(`${target.name}: a push reaches Jenkins, its green build makes both servers fetch it, under one correlationId`, async (t) => {
    const pipeline = await startPipeline({ busUrl: target.url, prefix: uniquePrefix(), fetchers: 2 });
    t.teardown(() => pipeline.stop());
    const sha = await pipeline.push("first change");

    await waitFor(() => pipeline.seen.fetched.filter((m) => m.body.sha === sha).length >= 2, 30_000, "both servers to report the fetch");
    const [commit] = pipeline.seen.commits;
    t.truthy(commit, "git.commits was published by the hook");
    t.is(commit?.body.repo.name, pipelineRepo);
    t.is(commit?.body.ref, "refs/heads/main");
    t.is(commit?.body.after, sha);
    t.is(commit?.source.component, "git-hook");

    const [trigger] = pipeline.jenkins.triggers;
    t.is(trigger?.job, "team/shop/main");
    t.is(trigger?.parameters.DEPLOYKIT_SHA, sha);
    t.is(trigger?.parameters.DEPLOYKIT_CORRELATION_ID, commit?.id);

    const phases = pipeline.seen.builds.map((m) => m.body.phase);
    t.true(phases.includes("queued") && phases.includes("succeeded"), `phases ${phases.join(",")}`);
    const succeeded = pipeline.seen.builds.find((m) => m.body.phase === "succeeded");
    t.is(succeeded?.body.sha, sha);
    t.is(succeeded?.body.repo, pipelineRepo);

    const fetched = pipeline.seen.fetched.filter((m) => m.body.sha === sha);
    t.deepEqual(fetched.map((m) => m.body.host).sort(), ["web-1", "web-2"]);
    for (const message of fetched) t.falsy(message.body.error);

    const chain = [commit, ...pipeline.seen.builds, ...fetched];
    t.deepEqual(new Set(chain.map((m) => m?.correlationId)), new Set([commit?.id]), "one correlationId from push to fetch");

    for (const index of [1, 2]) {
      const head = await runGit(["rev-parse", "--verify", "refs/heads/main"], { cwd: pipeline.mirror(index) });
      t.is(head, sha, `server ${index}'s mirror has the pushed commit on main`);
    }
  });
}
