import { mkdtempSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import test from "ava";
import type { Bus } from "../../../shared/bus/bus.ts";
import { readConfig } from "../../../shared/config/read-config.ts";
import { type AllConfig, configSections, startDaemon } from "../../../shared/run-daemon.ts";
import { githubToBus } from "../../../daemons/github-to-bus/index.ts";
import { startTestBroker } from "../../helpers/embedded-broker.ts";
import { testBus, uniquePrefix, waitFor } from "../../helpers/test-bus.ts";
import { type Commits, altered, fixture, fixtureSecret, send, settle, startOn, startWebhooks } from "./webhook-helpers.ts";

// The answer comes only once the broker has the message; a repeat of a
// published delivery is answered without publishing again; a delivery the
// bus could not take is answered 503 and published when it comes again.

test("a redelivery is answered 200 duplicate with the first message's id and not published again", async (t) => {
  const running = await startWebhooks(t);
  const push = fixture("github", "push");
  const first = await send(running.url, "github", push);
  t.is(first.status, 202);
  const again = await send(running.url, "github", push);
  t.is(again.status, 200);
  t.deepEqual(again.body, { duplicate: true, id: first.body.id });
  t.is((await settle(running.published)).length, 1);
  // Another delivery of the same push (a new id) is a new delivery.
  const other = await send(running.url, "github", altered(push, { "X-GitHub-Delivery": "7e0c3d92-0868-11ef-8b6a-1f2e3d4c5b6a" }));
  t.is(other.status, 202);
  t.not(other.body.id, first.body.id);
  t.regex(await (await fetch(`${running.url}/metrics`)).text(), /deploykit_github_to_bus_deliveries_total\{provider="github",outcome="duplicate"\} 1/);
});

test("copies of one delivery arriving at once are published once", async (t) => {
  const running = await startWebhooks(t);
  const push = fixture("gitea", "push");
  const answers = await Promise.all(Array.from({ length: 6 }, () => send(running.url, "gitea", push)));
  t.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 200, 200, 200, 202]);
  t.is(new Set(answers.map((a) => a.body.id)).size, 1, "every copy names the one message");
  t.is((await settle(running.published)).length, 1);
});

test("GitLab: without Idempotency-Key, pushes of two branches sharing one X-Gitlab-Event-UUID are both published", async (t) => {
  const running = await startWebhooks(t);
  const shared = { "Idempotency-Key": undefined, "X-Gitlab-Event-UUID": "8c1f3b52-5a9e-4d07-9b2c-3e6f8a1d4c70" };
  const main = altered(fixture("gitlab", "push"), shared);
  const deleted = altered(fixture("gitlab", "delete-branch"), shared);
  t.is((await send(running.url, "gitlab", main)).status, 202);
  t.is((await send(running.url, "gitlab", deleted)).status, 202);
  t.is((await send(running.url, "gitlab", main)).status, 200, "a repeat of one of them is still a duplicate");
  t.deepEqual(
    (await settle(running.published)).map((m) => m.body.ref),
    ["refs/heads/main", "refs/heads/basket-session"],
  );
});

test("generic: Idempotency-Key de-duplicates; without one every post is published", async (t) => {
  const running = await startWebhooks(t);
  const body = JSON.stringify({
    repo: { name: "Acme/Tools", urls: ["ssh://git@git.acme.example/acme/tools.git"] },
    ref: "refs/heads/main",
    before: "1".repeat(40),
    after: "2".repeat(40),
    commits: [{ id: "2".repeat(40), message: "Build", timestamp: "2024-05-02T10:11:02Z", author: { name: "ci" } }],
    pusher: { name: "svn-bridge" },
  });
  const headers = { "Content-Type": "application/json", Authorization: `Bearer generic-token` };
  const keyed = { headers: { ...headers, "Idempotency-Key": "svn-r1234" }, body: Buffer.from(body) };
  t.is((await send(running.url, "generic", keyed)).status, 202);
  t.is((await send(running.url, "generic", keyed)).status, 200);
  t.is((await send(running.url, "generic", { headers, body: Buffer.from(body) })).status, 202);
  t.is((await send(running.url, "generic", { headers, body: Buffer.from(body) })).status, 202);
  const published = await settle(running.published);
  t.is(published.length, 3);
  const first = published[0] as Commits;
  t.deepEqual(first.body.repo, { name: "acme/tools", urls: ["ssh://git@git.acme.example/acme/tools.git"] });
  t.false(first.body.created);
  t.false(first.body.deleted);
  t.false(first.body.forced);
  t.is(first.body.provider, "generic");
  t.deepEqual(first.body.pusher, { name: "svn-bridge" });
});

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test("with the broker down the answer is 503 with Retry-After; once it is up the same delivery is published", async (t) => {
  const port = await closedPort();
  const url = `stomp://127.0.0.1:${port}`;
  const prefix = uniquePrefix();
  const bus = testBus(url, prefix, { publishTimeoutMs: 300, connectTimeoutMs: 500, reconnect: { initialMs: 50, maxMs: 200 } });
  t.teardown(() => bus.close({ graceMs: 0 }));
  const daemon = await startOn(t, bus, { publishTimeout: 400, retryAfter: 20_000 });
  const push = fixture("github", "push");

  const started = Date.now();
  const down = await send(daemon.url, "github", push);
  t.is(down.status, 503, JSON.stringify(down.body));
  t.is(down.headers.get("retry-after"), "20");
  t.regex(String(down.body.error), /message bus is unavailable.*nothing was published/);
  t.true(Date.now() - started < 3_000, "answered within about publishTimeout");
  t.regex(await (await fetch(`${daemon.url}/metrics`)).text(), /deploykit_github_to_bus_deliveries_total\{provider="github",outcome="unavailable"\} 1/);

  const broker = await startTestBroker({ port });
  t.teardown(() => broker.close());
  const watcher = testBus(broker.url, prefix);
  t.teardown(() => watcher.close({ graceMs: 0 }));
  const published: Commits[] = [];
  // A subscription made before the connection is up would only start with it.
  await watcher.connected(5_000);
  await watcher.subscribe("git.commits", (message) => void published.push(message));
  await bus.connected(5_000);

  const up = await send(daemon.url, "github", push);
  t.is(up.status, 202, "the 503 was not remembered as delivered");
  await waitFor(() => published.length === 1, 5_000, "the message through the broker");
  t.is(published[0]?.id, up.body.id as string);
  t.is((await send(daemon.url, "github", push)).status, 200);
});

test("a publish confirmed only after the answer went out is remembered: the retry is a duplicate, not a second message", async (t) => {
  const running = await startWebhooks(t, { publishTimeout: 200 }, (memory) => {
    const real = testBus(memory, "dk");
    // A broker slow to confirm: the message gets there, after the daemon gave up waiting.
    return Object.assign(Object.create(real) as Bus, {
      publish: async (...args: Parameters<Bus["publish"]>) => {
        await sleep(600);
        return real.publish(...args);
      },
      close: real.close.bind(real),
    });
  });
  const push = fixture("gitlab", "push");
  const first = await send(running.url, "gitlab", push);
  t.is(first.status, 503);
  await waitFor(() => running.published.length === 1, 5_000, "the late message");
  const retry = await send(running.url, "gitlab", push);
  t.is(retry.status, 200);
  t.is(retry.body.id, running.published[0]?.id);
  t.is((await settle(running.published)).length, 1);
});

test("run by startDaemon from its config section and the environment, over the embedded broker", async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const prefix = uniquePrefix();
  const dir = mkdtempSync(join(tmpdir(), "dk-g2b-"));
  const file = join(dir, "deploykit.yaml");
  writeFileSync(file, "github-to-bus:\n  port: 0\n  repos: [acme/web-shop, shop/web-shop]\n");
  const config = readConfig(configSections([githubToBus]), {
    file,
    env: {
      DEPLOYKIT_BUS_URL: broker.url,
      DEPLOYKIT_BUS_PREFIX: prefix,
      DEPLOYKIT_BUS_HOST: "edge-1",
      DEPLOYKIT_LOG_LEVEL: "silent",
      DEPLOYKIT_GITHUB_TO_BUS_GITHUB_SECRET: fixtureSecret,
      DEPLOYKIT_GITHUB_TO_BUS_REPO_SECRETS: "shop/web-shop=shop-secret,other/repo=x",
      DEPLOYKIT_GITHUB_TO_BUS_PUBLISH_TIMEOUT: "3s",
    },
  });
  const running = await startDaemon(githubToBus, config.values as AllConfig);
  t.teardown(() => running.stop());
  const http = running.urls.find((u) => u.what === "http")?.url as string;
  t.regex(http, /^http:\/\/127\.0\.0\.1:\d+$/);

  const watcher = testBus(broker.url, prefix);
  t.teardown(() => watcher.close({ graceMs: 0 }));
  const published: Commits[] = [];
  // A subscription made before the connection is up would only start with it.
  await watcher.connected(5_000);
  await watcher.subscribe("git.commits", (message) => void published.push(message));

  t.is((await send(http, "github", fixture("github", "push"))).status, 202);
  // The GitLab repository has its own secret in repoSecrets, so the fixture's token is wrong for it.
  t.is((await send(http, "gitlab", fixture("gitlab", "push"))).status, 401);
  t.is((await send(http, "gitlab", altered(fixture("gitlab", "push"), { "X-Gitlab-Token": "shop-secret" }))).status, 202);
  await waitFor(() => published.length === 2, 5_000, "two messages through the broker");
  t.deepEqual(published[0]?.source, { component: "github-to-bus", host: "edge-1" });
  t.deepEqual(
    published.map((m) => m.body.provider),
    ["github", "gitlab"],
  );
  t.is(await (await fetch(`${http}/healthz`)).text(), "ok\n");
  t.regex(await (await fetch(`${http}/metrics`)).text(), /deploykit_github_to_bus_deliveries_total\{provider="gitlab",outcome="published"\} 1/);

  await running.stop();
  await t.throwsAsync(fetch(`${http}/healthz`), undefined, "the listener is closed once stopped");
});
