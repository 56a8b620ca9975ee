import { existsSync, mkdtempSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { jenkinsStatus } from "../../../daemons/jenkins-status/index.ts";
import type { Bus } from "../../../shared/bus/bus.ts";
import type { BodyOf, Envelope } from "../../../shared/messages/index.ts";
import { captureLog } from "../../helpers/capture-log.ts";
import { jenkinsFixture } from "../../helpers/jenkins-fixture.ts";
import { testBus, uniquePrefix, waitFor } from "../../helpers/test-bus.ts";

type Builds = Envelope<BodyOf<"builds">>[];

const config = { host: "127.0.0.1", port: 0, token: "", maxBody: 64 * 1024, publishTimeout: 2_000, jenkinsUrl: "" };

async function start(t: ExecutionContext, overrides: Partial<typeof config> = {}, bus?: Bus) {
  const url = `memory://${uniquePrefix()}`;
  const daemonBus = bus ?? testBus(url, "dk");
  const watcher = testBus(url, "dk");
  const builds: Builds = [];
  await watcher.subscribe("builds", (m) => void builds.push(m));
  const { log, lines } = captureLog();
  let http = "";
  const stop = await jenkinsStatus.start({
    config: { ...config, ...overrides },
    bus: daemonBus,
    log,
    host: "ci-1",
    signal: new AbortController().signal,
    announce: (what, where) => {
      if (what === "http") http = where;
    },
  });
  t.teardown(async () => {
    await stop();
    await daemonBus.close({ graceMs: 0 });
    await watcher.close({ graceMs: 0 });
  });
  const post = (payload: unknown, init: { headers?: Record<string, string>; query?: string; base?: string } = {}) =>
    fetch(`${init.base ?? http}/jenkins/notify${init.query ?? ""}`, {
      method: "POST",
      headers: { "content-type": "application/json;charset=UTF-8", ...init.headers },
      body: typeof payload === "string" ? payload : JSON.stringify(payload),
    });
  return { http, post, builds, lines };
}

test("each Notification plugin payload becomes builds.v1 with phase, repo, ref and sha, answered 202 once published", async (t) => {
  const { post, builds } = await start(t);
  const expected = [
    ["notification-started", { job: "team/shop/main", number: 42, queueId: 1187, phase: "started", repo: "acme/shop", ref: "refs/heads/main", sha: "9b2f4c0d6e8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c", url: "https://ci.example.com/job/team/job/shop/job/main/42/", artifacts: [] }],
    [
      "notification-completed-success",
      {
        job: "team/shop/main",
        number: 42,
        queueId: 1187,
        phase: "succeeded",
        repo: "acme/shop",
        ref: "refs/heads/main",
        sha: "9b2f4c0d6e8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c",
        url: "https://ci.example.com/job/team/job/shop/job/main/42/",
        artifacts: [
          { name: "dist/shop-9b2f4c0.tar.gz", url: "https://ci.example.com/job/team/job/shop/job/main/42/artifact/dist/shop-9b2f4c0.tar.gz" },
          { name: "dist/shop-9b2f4c0.tar.gz.sha256", url: "https://ci.example.com/job/team/job/shop/job/main/42/artifact/dist/shop-9b2f4c0.tar.gz.sha256" },
        ],
      },
    ],
    ["notification-finalized-failure", { job: "shop-nightly", number: 317, queueId: 2290, phase: "failed", repo: "acme/shop", ref: "refs/heads/release/2.x", sha: "4e6a8c0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c", url: "https://ci.example.com/job/shop-nightly/317/", artifacts: [] }],
    ["notification-aborted", { job: "team/shop/deploy", number: 88, queueId: 2301, phase: "aborted", repo: "acme/shop", ref: "refs/heads/main", sha: "1f3a5c7e9b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a", url: "https://ci.example.com/job/team/job/shop/job/deploy/88/", artifacts: [] }],
  ] as const;
  for (const [fixture, body] of expected) {
    const response = await post(jenkinsFixture(fixture));
    t.is(response.status, 202, fixture);
    const answer = (await response.json()) as { id: string; phase: string };
    // 202 comes after the broker has it: the message is there to be seen.
    await waitFor(() => builds.some((b) => b.id === answer.id), 5_000, `${fixture} on the bus`);
    const published = builds.find((b) => b.id === answer.id);
    t.deepEqual(published?.body, body, fixture);
    t.is(answer.phase, body.phase);
  }
  t.is(builds[0]?.correlationId, "3f0e6c4e-9a51-4c1e-8a43-5b0f1e7d2c11", "the chain bus-to-jenkins started goes on");
  t.is(builds[1]?.correlationId, "3f0e6c4e-9a51-4c1e-8a43-5b0f1e7d2c11");
  t.is(builds[2]?.correlationId, builds[2]?.id, "a build nobody pushed for starts its own chain");
  t.is(builds[3]?.correlationId, "8d1c2b3a-4e5f-4a6b-9c7d-0e1f2a3b4c5d");
});

test("UNSTABLE counts as failed, NOT_BUILT as aborted, QUEUED as queued; a relative URL is made absolute with jenkinsUrl", async (t) => {
  const { post, builds } = await start(t, { jenkinsUrl: "https://ci.example.com/" });
  const payload = (phase: string, status?: string) => {
    const p = jenkinsFixture("notification-completed-success");
    p.build.phase = phase;
    if (status === undefined) delete p.build.status;
    else p.build.status = status;
    delete p.build.full_url;
    return p;
  };
  for (const [phase, status] of [["COMPLETED", "UNSTABLE"], ["FINALIZED", "NOT_BUILT"], ["QUEUED", undefined], ["FINALIZED", "SUCCESS"]] as const) {
    t.is((await post(payload(phase, status))).status, 202, `${phase} ${status}`);
  }
  await waitFor(() => builds.length === 4, 5_000, "four builds");
  t.deepEqual(
    builds.map((b) => b.body.phase),
    ["failed", "aborted", "queued", "succeeded"],
  );
  t.is(builds[0]?.body.url, "https://ci.example.com/job/team/job/shop/job/main/42/");
});

test("with a token, a notification must present it: Bearer, basic auth (user:token@ in the plugin's URL) or ?token=", async (t) => {
  const token = "s3cret-token";
  const { post, builds, http } = await start(t, { token });
  const payload = jenkinsFixture("notification-started");
  const refused = [await post(payload), await post(payload, { headers: { authorization: "Bearer wrong" } }), await post(payload, { query: "?token=wrong" })];
  t.deepEqual(
    refused.map((r) => r.status),
    [401, 401, 401],
  );
  t.regex(((await (refused[0] as Response).json()) as { error: string }).error, /a token is required/);
  const basic = Buffer.from(`jenkins:${token}`).toString("base64");
  const accepted = [
    await post(payload, { headers: { authorization: `Bearer ${token}` } }),
    await post(payload, { headers: { authorization: `Basic ${basic}` } }),
    await post(payload, { query: `?token=${token}` }),
  ];
  t.deepEqual(
    accepted.map((r) => r.status),
    [202, 202, 202],
  );
  await waitFor(() => builds.length === 3, 5_000, "three builds");
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(builds.length, 3, "refused notifications published nothing");
  const metrics = await (await fetch(`${http}/metrics`)).text();
  t.regex(metrics, /^deploykit_jenkins_status_notifications_total\{outcome="unauthorized"\} 3$/m);
  t.regex(metrics, /^deploykit_jenkins_status_notifications_total\{outcome="published"\} 3$/m);
  t.regex(metrics, /^deploykit_jenkins_status_builds_published_total\{phase="started"\} 3$/m);
});

test("without a token only clients on this host may notify", async (t) => {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === "IPv4" && !i.internal)?.address;
  if (!address) {
    t.log("this machine has no non-loopback IPv4 address: only the loopback half can run");
  }
  const { post, http, builds } = await start(t, { host: "0.0.0.0" });
  const port = new URL(http).port;
  t.is((await post(jenkinsFixture("notification-started"), { base: `http://127.0.0.1:${port}` })).status, 202);
  if (address) {
    const remote = await post(jenkinsFixture("notification-started"), { base: `http://${address}:${port}` });
    t.is(remote.status, 403);
    t.regex(((await remote.json()) as { error: string }).error, /jenkins-status\.token is not set, so only clients on this host may notify/);
  }
  await waitFor(() => builds.length === 1, 5_000, "the loopback notification");
});

test("bad input is answered 4xx, publishes nothing, and nothing runs", async (t) => {
  const { post, builds, http, lines } = await start(t);
  const marker = join(mkdtempSync(join(tmpdir(), "dk-js-")), "pwned");
  const fixture = () => jenkinsFixture("notification-completed-success");
  const withBuild = (change: (build: Record<string, unknown>) => void) => {
    const p = fixture();
    change(p.build);
    return p;
  };
  const parameters = (extra: Record<string, string>) => withBuild((b) => Object.assign(b.parameters as object, extra));
  const scm = (extra: Record<string, string>) => withBuild((b) => Object.assign(b.scm as object, extra));
  const cases: [string, string | object, number, RegExp, Record<string, string>?][] = [
    ["broken JSON", '{"name": "main", "build": {', 400, /body is not valid JSON/],
    ["XML", "<JobState><name>main</name></JobState>", 415, /send the Notification plugin's JSON/, { "content-type": "application/xml;charset=UTF-8" }],
    ["not an object", "null", 400, /not a Notification plugin payload/],
    ["no name", { build: fixture().build }, 400, /^not a Notification plugin payload: name: /],
    ["unknown phase", withBuild((b) => (b.phase = "EXPLODED")), 400, /build\.phase: Invalid option/],
    ["no build number", withBuild((b) => delete b.number), 400, /build\.number is missing/],
    ["no status when completed", withBuild((b) => delete b.status), 400, /build\.status is missing; a COMPLETED notification says how the build ended/],
    ["unknown status", withBuild((b) => (b.status = "GREEN")), 400, /build\.status "GREEN" is not one of SUCCESS, UNSTABLE, FAILURE, ABORTED, NOT_BUILT/],
    ["option as ref", parameters({ DEPLOYKIT_REF: `--upload-pack=touch ${marker}` }), 400, /^build\.parameters\.DEPLOYKIT_REF "--upload-pack=touch .*" is not a full git ref/],
    [
      "command as branch",
      withBuild((b) => {
        delete (b.parameters as Record<string, string>).DEPLOYKIT_REF;
        Object.assign(b.scm as object, { branch: `$(touch ${marker})` });
      }),
      400,
      /^build\.scm\.branch "\$\(touch .*\)" is not a valid git branch name/,
    ],
    ["command as commit", scm({ commit: `$(touch ${marker})` }), 400, /^build\.scm\.commit "\$\(touch .*\)" is not a full hex commit id/],
    ["path as repo", parameters({ DEPLOYKIT_REPO: "../../etc/passwd" }), 400, /DEPLOYKIT_REPO "\.\.\/\.\.\/etc\/passwd" is not a repository name/],
    ["bad correlation id", parameters({ DEPLOYKIT_CORRELATION_ID: "; rm -rf /" }), 400, /DEPLOYKIT_CORRELATION_ID "; rm -rf \/" is not a uuid/],
    ["too large", withBuild((b) => (b.log = "x".repeat(70 * 1024))), 413, /request body too large/],
  ];
  for (const [what, payload, status, message, headers] of cases) {
    const response = await post(payload, { headers });
    t.is(response.status, status, what);
    t.regex(((await response.json()) as { error: string }).error, message, what);
  }
  // Still serving, and the refused ones left no trace on the bus.
  t.is((await post(fixture())).status, 202);
  await waitFor(() => builds.length === 1, 5_000, "the good notification");
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.is(builds.length, 1);
  t.false(existsSync(marker), "nothing ran");
  t.true(lines.some((l) => l.msg === "notification refused" && String(l.reason).includes("DEPLOYKIT_REF")));
  const metrics = await (await fetch(`${http}/metrics`)).text();
  t.regex(metrics, /^deploykit_jenkins_status_notifications_total\{outcome="invalid"\} 1[0-9]$/m);
});

test("a notification is answered 503 when the bus is down, within the publish timeout", async (t) => {
  const down = testBus("stomp://127.0.0.1:1", uniquePrefix(), { reconnect: { initialMs: 100, maxMs: 200 }, connectTimeoutMs: 200 });
  const { post } = await start(t, { publishTimeout: 500 }, down);
  const started = Date.now();
  const response = await post(jenkinsFixture("notification-completed-success"));
  const elapsed = Date.now() - started;
  t.is(response.status, 503);
  t.is(response.headers.get("retry-after"), "30");
  t.regex(((await response.json()) as { error: string }).error, /^the bus is unavailable, nothing was published/);
  t.true(elapsed < 3_000, `answered after ${elapsed} ms`);
});
