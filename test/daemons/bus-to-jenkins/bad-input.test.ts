import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { busToJenkins } from "../../../daemons/bus-to-jenkins/index.ts";
import { routeName } from "../../../shared/bus/destinations.ts";
import type { BodyOf, Envelope } from "../../../shared/messages/index.ts";
import { captureLog } from "../../helpers/capture-log.ts";
import { startFakeJenkins } from "../../helpers/fake-jenkins.ts";
import { rawTransport, testBus, transportReady, uniquePrefix, waitFor } from "../../helpers/test-bus.ts";
import { gitPushBody } from "../../helpers/git-push-body.ts";

const sha = "9b2f4c0d6e8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c";

test("broken messages and refs that look like options or shell commands never reach Jenkins; a ref git allows goes only as a literal parameter", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dk-b2j-"));
  const marker = join(dir, "pwned");
  const jenkins = await startFakeJenkins({ jobs: ["team/shop/main"] });
  const jobsFile = join(dir, "jenkins-jobs.yaml");
  writeFileSync(jobsFile, 'jobs:\n  - repo: acme/shop\n    refs: ["refs/heads/**"]\n    job: team/shop/main\n    parameters:\n      BRANCH: "{shortRef}"\n');
  const url = `memory://${uniquePrefix()}`;
  const bus = testBus(url, "dk");
  const watcher = testBus(url, "dk");
  const raw = rawTransport(url);
  t.teardown(async () => {
    await raw.close();
    await bus.close({ graceMs: 0 });
    await watcher.close({ graceMs: 0 });
    await jenkins.close();
  });
  await transportReady(raw);
  const dead: Envelope<BodyOf<"deadletter">>[] = [];
  const builds: Envelope<BodyOf<"builds">>[] = [];
  await watcher.subscribe("deadletter", (m) => void dead.push(m));
  await watcher.subscribe("builds", (m) => void builds.push(m));
  const config = {
    url: jenkins.url,
    user: jenkins.user,
    apiToken: jenkins.token,
    jobsFile,
    group: "bus-to-jenkins",
    attempts: 2,
    retryMin: 50,
    retryMax: 100,
    giveUpAfter: 1_000,
    requestTimeout: 1_000,
    concurrency: 1,
  };
  await busToJenkins.start({ config, bus, log: captureLog().log, host: "ci-1", signal: new AbortController().signal, announce: () => {} });

  const body = (overrides: Record<string, unknown>) => gitPushBody({ after: sha, pusher: { name: "mallory" }, provider: "generic", ...overrides });
  const envelope = (payload: unknown) =>
    JSON.stringify({ type: "git.commits.v1", id: randomUUID(), time: new Date().toISOString(), source: { component: "evil", host: "h" }, correlationId: randomUUID(), body: payload });
  const bad = [
    "{ this is not json",
    JSON.stringify({ type: "git.commits.v1", body: body({}) }),
    envelope(body({ ref: `--upload-pack=touch ${marker}` })),
    envelope(body({ ref: `$(touch ${marker})` })),
    envelope(body({ ref: `refs/heads/main;touch ${marker}` })),
    envelope(body({ ref: `refs/heads/\`touch ${marker}\`` })),
    envelope(body({ after: `$(touch ${marker})` })),
    envelope(body({ repo: { name: "", urls: [] } })),
  ];
  const route = routeName("dk", "git.commits");
  for (const text of bad) await raw.publish(text, { route, headers: {}, confirm: true });
  // `$`, `(` and `)` are legal in a git ref: this one is valid, and must stay a string.
  const ifs = ["$", "{IFS}"].join("");
  const shellish = `refs/heads/$(touch${ifs}${marker})`;
  await watcher.publish("git.commits", body({ ref: shellish }) as BodyOf<"git.commits">);

  await waitFor(() => dead.length === bad.length && builds.length === 1, 10_000, "every bad message dead-lettered and the valid one queued");
  t.true(dead.every((d) => d.body.destination === route));
  t.truthy(dead.find((d) => d.body.reason.startsWith("body is not JSON")));
  t.is(dead.filter((d) => /invalid git\.commits\.v1 body: ref/.test(d.body.reason)).length, 4);
  t.deepEqual(
    jenkins.triggers.map((tr) => [tr.parameters.DEPLOYKIT_REF, tr.parameters.BRANCH]),
    [[shellish, shellish.slice("refs/heads/".length)]],
  );
  t.is(builds[0]?.body.ref, shellish);
  t.false(existsSync(marker), "nothing ran");
});
