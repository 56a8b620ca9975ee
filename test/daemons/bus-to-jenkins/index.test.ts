import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { busToJenkins } from "../../../daemons/bus-to-jenkins/index.ts";
import type { Commit } from "../../../daemons/bus-to-jenkins/jobs-file.ts";
import type { BodyOf, Envelope } from "../../../shared/messages/index.ts";
import { captureLog } from "../../helpers/capture-log.ts";
import { type FakeJenkins, type FakeJenkinsOptions, startFakeJenkins } from "../../helpers/fake-jenkins.ts";
import { testBus, uniquePrefix, waitFor } from "../../helpers/test-bus.ts";

const sha = "9b2f4c0d6e8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c";

function commit(overrides: Partial<Commit> = {}): Commit {
  return {
    repo: { name: "acme/shop", urls: ["https://github.com/acme/shop.git"] },
    ref: "refs/heads/main",
    before: "1".repeat(40),
    after: sha,
    created: false,
    deleted: false,
    forced: false,
    commits: [{ id: sha, message: "Fix rounding", author: { name: "Alice" }, timestamp: "2026-11-21T10:00:00Z" }],
    pusher: { name: "alice" },
    provider: "github",
    ...overrides,
  };
}

const defaultJobs = `
jobs:
  - repo: acme/shop
    refs: ["refs/heads/*"]
    ignore: ["refs/heads/wip-*"]
    job: team/shop/main
    parameters:
      TARGET: staging
      BRANCH: "{shortRef}"
`;

interface Setup {
  jenkins: FakeJenkins;
  publish(body: Commit): Promise<Envelope<BodyOf<"git.commits">>>;
  builds: Envelope<BodyOf<"builds">>[];
  events: Envelope<BodyOf<"events">>[];
  lines: Record<string, unknown>[];
}

async function setup(
  t: ExecutionContext,
  options: { jobs?: string; jenkins?: FakeJenkinsOptions; config?: Record<string, unknown> } = {},
): Promise<Setup> {
  const jenkins = await startFakeJenkins({ jobs: ["team/shop/main"], ...options.jenkins });
  const jobsFile = join(mkdtempSync(join(tmpdir(), "dk-b2j-")), "jenkins-jobs.yaml");
  writeFileSync(jobsFile, options.jobs ?? defaultJobs);
  const url = `memory://${uniquePrefix()}`;
  const bus = testBus(url, "dk");
  const client = testBus(url, "dk");
  t.teardown(async () => {
    await bus.close({ graceMs: 0 });
    await client.close({ graceMs: 0 });
    await jenkins.close();
  });
  const builds: Setup["builds"] = [];
  const events: Setup["events"] = [];
  await client.subscribe("builds", (m) => void builds.push(m));
  await client.subscribe("events", (m) => void events.push(m));
  const { log, lines } = captureLog();
  const config = {
    url: jenkins.url,
    user: jenkins.user,
    apiToken: jenkins.token,
    jobsFile,
    group: "bus-to-jenkins",
    attempts: 4,
    retryMin: 50,
    retryMax: 200,
    giveUpAfter: 3_000,
    requestTimeout: 2_000,
    concurrency: 1,
    ...options.config,
  };
  await busToJenkins.start({ config, bus, log, host: "ci-1", signal: new AbortController().signal, announce: () => {} });
  return { jenkins, publish: (body) => client.publish("git.commits", body), builds, events, lines };
}

test("a push to a mapped branch queues the folder job with its parameters, fetching a crumb when Jenkins asks, and reports it queued", async (t) => {
  const { jenkins, publish, builds } = await setup(t);
  const pushed = await publish(commit());
  const [trigger] = await jenkins.waitForTriggers(1);
  t.is(trigger?.job, "team/shop/main");
  t.is(trigger?.endpoint, "buildWithParameters");
  t.is(trigger?.user, "deploykit");
  t.deepEqual(trigger?.parameters, {
    TARGET: "staging",
    BRANCH: "main",
    DEPLOYKIT_REPO: "acme/shop",
    DEPLOYKIT_REF: "refs/heads/main",
    DEPLOYKIT_SHA: sha,
    DEPLOYKIT_CORRELATION_ID: pushed.correlationId,
  });
  t.deepEqual(
    jenkins.requests.map((r) => `${r.method} ${r.path} ${r.status}`),
    [
      "POST /job/team/job/shop/job/main/buildWithParameters 403",
      "GET /crumbIssuer/api/json 200",
      "POST /job/team/job/shop/job/main/buildWithParameters 201",
    ],
  );
  await waitFor(() => builds.length === 1, 5_000, "builds.v1 queued");
  const [queued] = builds;
  t.is(queued?.correlationId, pushed.correlationId, "the build continues the push's chain");
  t.like(queued?.body, { job: "team/shop/main", phase: "queued", queueId: trigger?.queueId, url: trigger?.location, repo: "acme/shop", ref: "refs/heads/main", sha });
  t.regex(queued?.body.url ?? "", /\/queue\/item\/\d+\/$/);
});

test("the crumb and its session cookie are kept for later triggers; a crumb whose session expired is replaced", async (t) => {
  const { jenkins, publish } = await setup(t);
  await publish(commit());
  await publish(commit({ after: "a".repeat(40) }));
  await jenkins.waitForTriggers(2);
  t.is(jenkins.crumbsIssued, 1, "one crumb, sent back with its session cookie");
  jenkins.expireSessions();
  await publish(commit({ after: "b".repeat(40) }));
  const triggers = await jenkins.waitForTriggers(3);
  t.is(jenkins.crumbsIssued, 2);
  t.deepEqual(
    triggers.map((tr) => tr.parameters.DEPLOYKIT_SHA),
    [sha, "a".repeat(40), "b".repeat(40)],
  );
});

test("a job without parameters is triggered with /build; a Jenkins without a crumb issuer needs no crumb", async (t) => {
  const { jenkins, publish, builds } = await setup(t, {
    jobs: "jobs:\n  - repo: acme/shop\n    job: shop-plain\n    deploykitParameters: false\n",
    jenkins: { jobs: { "shop-plain": { parameters: false } }, crumb: "disabled" },
  });
  await publish(commit());
  const [trigger] = await jenkins.waitForTriggers(1);
  t.is(trigger?.endpoint, "build");
  t.deepEqual(trigger?.parameters, {});
  t.deepEqual(
    jenkins.requests.map((r) => `${r.method} ${r.path} ${r.status}`),
    ["POST /job/shop-plain/build 201"],
  );
  await waitFor(() => builds.length === 1, 5_000, "builds.v1 queued");
  t.is(builds[0]?.body.job, "shop-plain");
});

test("refs outside the patterns, ignored refs, other repositories and deleted refs trigger nothing", async (t) => {
  const { jenkins, publish, builds, lines } = await setup(t);
  await publish(commit({ ref: "refs/heads/feature/x" }));
  await publish(commit({ ref: "refs/heads/wip-spike" }));
  await publish(commit({ ref: "refs/tags/v1.0.0" }));
  await publish(commit({ repo: { name: "acme/web", urls: [] } }));
  await publish(commit({ after: "0".repeat(40), deleted: true, commits: [] }));
  await publish(commit({ after: "0".repeat(40), deleted: false, commits: [] }));
  // Handled in order (concurrency 1): once this one is queued, the others were seen and skipped.
  await publish(commit({ ref: "refs/heads/release", after: "c".repeat(40) }));
  await waitFor(() => builds.length === 1, 5_000, "the last push queued");
  t.deepEqual(
    jenkins.triggers.map((tr) => tr.parameters.DEPLOYKIT_REF),
    ["refs/heads/release"],
  );
  t.is(lines.filter((l) => l.msg === "ref deleted: nothing to build").length, 2);
  t.is(lines.filter((l) => l.msg === "no job for this push").length, 4);
});

test("one push can trigger several jobs; an entry may name the repository by clone URL", async (t) => {
  const { jenkins, publish, builds } = await setup(t, {
    jobs: `
jobs:
  - repo: acme/*
    job: team/shop/main
  - repo: "https://github.com/acme/shop.git"
    refs: ["refs/heads/**"]
    job: "Shop Deploy/staging"
`,
    jenkins: { jobs: ["team/shop/main", "Shop Deploy/staging"] },
  });
  const pushed = await publish(commit());
  await jenkins.waitForTriggers(2);
  t.deepEqual(jenkins.triggers.map((tr) => tr.job).sort(), ["Shop Deploy/staging", "team/shop/main"]);
  t.true(jenkins.requests.some((r) => r.path === "/job/Shop%20Deploy/job/staging/buildWithParameters" && r.status === 201), "segments are URL-encoded");
  await waitFor(() => builds.length === 2, 5_000, "two builds queued");
  t.true(builds.every((b) => b.correlationId === pushed.correlationId));
});

test("an unknown job is logged naming the job and reported on events, and not retried", async (t) => {
  const { jenkins, publish, builds, events, lines } = await setup(t, { jobs: "jobs:\n  - repo: acme/shop\n    job: team/gone\n" });
  const pushed = await publish(commit());
  await waitFor(() => events.length === 1, 5_000, "the events line");
  const [event] = events;
  t.is(event?.body.level, "error");
  t.is(event?.correlationId, pushed.correlationId);
  t.regex(event?.body.text ?? "", /^bus-to-jenkins: team\/gone was not triggered for acme\/shop refs\/heads\/main 9b2f4c0d6e8a: Jenkins has no job team\/gone \(404/);
  const error = lines.find((l) => l.level === 50);
  t.is(error?.job, "team/gone");
  t.is(error?.status, 404);
  t.regex(String(error?.jobsFileEntry), /^jobs\[0\] \(acme\/shop → team\/gone\)$/);
  // One POST before the crumb, one with it; no retry after the 404.
  t.is(jenkins.requests.filter((r) => r.method === "POST").length, 2);
  t.is(builds.length, 0);
  t.is(jenkins.triggers.length, 0);
});

test("Jenkins answering 503 is retried with backoff until it takes the build", async (t) => {
  const { jenkins, publish, builds, lines } = await setup(t);
  jenkins.failNext(2);
  await publish(commit());
  await waitFor(() => builds.length === 1, 5_000, "builds.v1 queued");
  t.is(jenkins.triggers.length, 1, "triggered once");
  const retries = lines.filter((l) => l.msg === "Jenkins did not take the build; retrying");
  t.deepEqual(
    retries.map((l) => l.attempt),
    [1, 2],
  );
  t.regex(String(retries[0]?.err), /Jenkins answered 503 Error 503 Service Unavailable/);
  t.true(retries.every((l) => typeof l.delayMs === "number" && (l.delayMs as number) <= 200));
});

test("a Jenkins that is down is retried within bounds, then reported; the daemon goes on with the next push", async (t) => {
  const { jenkins, publish, builds, events, lines } = await setup(t, { config: { attempts: 4, retryMin: 100, retryMax: 200, giveUpAfter: 5_000 } });
  await jenkins.close();
  const started = Date.now();
  const pushed = await publish(commit());
  await waitFor(() => events.length === 1, 10_000, "the events line");
  const elapsed = Date.now() - started;
  t.true(elapsed < 5_000, `gave up after ${elapsed} ms`);
  t.is(lines.filter((l) => l.msg === "Jenkins did not take the build; retrying").length, 3, "4 attempts: 3 retries");
  t.is(events[0]?.correlationId, pushed.correlationId);
  t.regex(events[0]?.body.text ?? "", /team\/shop\/main was not triggered for acme\/shop refs\/heads\/main 9b2f4c0d6e8a: gave up after 4 tries in \d+ s: Jenkins at http:\/\/127\.0\.0\.1:\d+ did not answer: connection refused \(ECONNREFUSED\)/);
  t.is(builds.length, 0);

  await jenkins.reopen();
  await publish(commit({ after: "d".repeat(40) }));
  await waitFor(() => builds.length === 1, 5_000, "the next push queued");
  t.is(builds[0]?.body.sha, "d".repeat(40));
});

test("a wrong API token is refused at once, reported, and not retried", async (t) => {
  const { jenkins, publish, events } = await setup(t, { config: { apiToken: "not-the-token" } });
  await publish(commit());
  await waitFor(() => events.length === 1, 5_000, "the events line");
  t.regex(events[0]?.body.text ?? "", /Jenkins did not accept user "deploykit" with the configured API token \(401\): check bus-to-jenkins\.user and bus-to-jenkins\.apiToken/);
  t.deepEqual(
    jenkins.requests.map((r) => r.status),
    [401],
  );
});

test("without a Jenkins URL or a jobs file it stays out of the group instead of swallowing pushes", async (t) => {
  const url = `memory://${uniquePrefix()}`;
  const idle = testBus(url, "dk");
  const member = testBus(url, "dk");
  t.teardown(() => Promise.all([idle.close({ graceMs: 0 }), member.close({ graceMs: 0 })]).then(() => {}));
  const { log, lines } = captureLog();
  const base = { user: "", apiToken: "", group: "bus-to-jenkins", attempts: 1, retryMin: 10, retryMax: 10, giveUpAfter: 100, requestTimeout: 100, concurrency: 1 };
  const context = { bus: idle, log, host: "ci-1", signal: new AbortController().signal, announce: () => {} };
  await busToJenkins.start({ ...context, config: { ...base, url: "", jobsFile: "/etc/deploykit/jenkins-jobs.yaml" } });
  await busToJenkins.start({ ...context, config: { ...base, url: "http://127.0.0.1:1", jobsFile: "/etc/deploykit/jenkins-jobs.yaml" } });
  t.truthy(lines.find((l) => String(l.msg).startsWith("bus-to-jenkins.url is not set: not subscribing")));
  t.truthy(lines.find((l) => String(l.msg).startsWith("/etc/deploykit/jenkins-jobs.yaml does not exist: not subscribing")));
  // The only member of the group gets every push.
  const got: string[] = [];
  await member.subscribe("git.commits", (m) => void got.push(m.body.after), { group: "bus-to-jenkins" });
  for (const after of ["1", "2", "3"]) await idle.publish("git.commits", commit({ after: after.repeat(40) }));
  await waitFor(() => got.length === 3, 5_000, "three pushes at the real member");
  t.pass();
});

test("a bad configuration is refused at start with the key to fix", async (t) => {
  const bus = testBus(`memory://${uniquePrefix()}`, "dk");
  t.teardown(() => bus.close({ graceMs: 0 }));
  const base = { user: "", apiToken: "", jobsFile: "/nonexistent/jobs.yaml", group: "g", attempts: 1, retryMin: 10, retryMax: 10, giveUpAfter: 100, requestTimeout: 100, concurrency: 1 };
  const start = (config: Partial<typeof base> & { url: string }) =>
    busToJenkins.start({ config: { ...base, ...config }, bus, log: captureLog().log, host: "h", signal: new AbortController().signal, announce: () => {} });
  await t.throwsAsync(start({ url: "ci.example.com" }), { message: /bus-to-jenkins\.url "ci\.example\.com" is not a URL/ });
  await t.throwsAsync(start({ url: "ftp://ci.example.com" }), { message: /must be http:\/\/ or https:\/\// });
  await t.throwsAsync(start({ url: "https://bot:secret@ci.example.com" }), { message: /holds credentials: put them in bus-to-jenkins\.user/ });
  await t.throwsAsync(start({ url: "https://ci.example.com" }), { message: /bus-to-jenkins\.jobsFile \/nonexistent\/jobs\.yaml does not exist/ });
});
