import test, { type ExecutionContext } from "ava";
import { waitFor } from "../../helpers/test-bus.ts";
import { type Commits, fixture, send, settle, startWebhooks } from "./webhook-helpers.ts";

// The saved deliveries of each provider (test/fixtures/webhooks/), sent as
// they came, and the git.commits message each one becomes.

const zeros = "0".repeat(40);
const c0 = "7c2b4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c";
const c1 = "9a1e8c0f5b7d3e2a4c6b8d0f1e3a5c7b9d1f3e5a";
const c2 = "b3f5d7e9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1";
const tagged = "e4a6c8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2";

async function publishedBy(t: ExecutionContext, provider: string, name: string): Promise<Commits> {
  const running = await startWebhooks(t);
  const answer = await send(running.url, provider === "forgejo" ? "gitea" : provider, fixture(provider, name));
  t.is(answer.status, 202, JSON.stringify(answer.body));
  await waitFor(() => running.published.length > 0, 5_000, "the git.commits message");
  const [message] = await settle(running.published);
  t.is(running.published.length, 1, "one delivery, one message");
  t.is(answer.body.id, message?.id, "the answer names the message");
  t.is(message?.type, "git.commits.v1");
  t.is(message?.correlationId, message?.id, "a push starts its own correlation");
  t.is(message?.source.component, "test");
  return message as Commits;
}

test("GitHub push: repository, ref, before/after, flags, commits and pusher", async (t) => {
  const { body } = await publishedBy(t, "github", "push");
  t.deepEqual(body.repo, { name: "acme/web-shop", urls: ["https://github.com/Acme/Web-Shop.git", "git@github.com:Acme/Web-Shop.git"] });
  t.is(body.ref, "refs/heads/main");
  t.is(body.before, c0);
  t.is(body.after, c2);
  t.false(body.created);
  t.false(body.deleted);
  t.false(body.forced);
  t.is(body.provider, "github");
  t.deepEqual(body.pusher, { name: "jdoe", email: "jdoe@example.com" });
  t.deepEqual(
    body.commits.map((c) => c.id),
    [c1, c2],
  );
  t.deepEqual(body.commits[0], {
    id: c1,
    message: "Checkout: keep the basket across logins",
    author: { name: "Jane Doe", email: "jdoe@example.com" },
    timestamp: "2024-05-02T10:11:02+02:00",
    url: `https://github.com/Acme/Web-Shop/commit/${c1}`,
  });
  t.is(body.commitsTruncated, undefined, "all commits are listed");
});

test("GitHub tag push is created, with no commits", async (t) => {
  const { body } = await publishedBy(t, "github", "push-tag");
  t.is(body.ref, "refs/tags/v1.4.0");
  t.is(body.before, zeros);
  t.is(body.after, tagged);
  t.true(body.created);
  t.false(body.deleted);
  t.deepEqual(body.commits, []);
});

test("GitHub branch deletion is a message too", async (t) => {
  const { body } = await publishedBy(t, "github", "delete-branch");
  t.is(body.ref, "refs/heads/basket-session");
  t.is(body.before, c1);
  t.is(body.after, zeros);
  t.true(body.deleted);
  t.false(body.created);
});

test("GitHub ping is answered 200 and publishes nothing", async (t) => {
  const running = await startWebhooks(t);
  const answer = await send(running.url, "github", fixture("github", "ping"));
  t.is(answer.status, 200);
  t.deepEqual(answer.body, { ok: true, ping: true });
  t.deepEqual(await settle(running.published), []);
});

test("GitLab Push Hook: path_with_namespace names the repository; created/deleted come from the zeros", async (t) => {
  const { body } = await publishedBy(t, "gitlab", "push");
  t.deepEqual(body.repo, {
    name: "shop/web-shop",
    urls: ["https://gitlab.acme.example/shop/web-shop.git", "git@gitlab.acme.example:shop/web-shop.git"],
  });
  t.is(body.ref, "refs/heads/main");
  t.is(body.before, c0);
  t.is(body.after, c2);
  t.false(body.created);
  t.false(body.deleted);
  t.false(body.forced);
  t.is(body.provider, "gitlab");
  // GitLab sends "" for a hidden email: the message leaves it out rather than carry an empty one.
  t.deepEqual(body.pusher, { name: "jdoe" });
  t.deepEqual(
    body.commits.map((c) => [c.id, c.timestamp]),
    [
      [c1, "2024-05-02T10:11:02+02:00"],
      [c2, "2024-05-02T10:11:37+02:00"],
    ],
  );
});

test("GitLab Tag Push Hook", async (t) => {
  const { body } = await publishedBy(t, "gitlab", "tag-push");
  t.is(body.ref, "refs/tags/v1.4.0");
  t.is(body.after, tagged);
  t.true(body.created);
  t.false(body.deleted);
});

test("GitLab branch deletion", async (t) => {
  const { body } = await publishedBy(t, "gitlab", "delete-branch");
  t.is(body.ref, "refs/heads/basket-session");
  t.is(body.before, c1);
  t.is(body.after, zeros);
  t.true(body.deleted);
});

test("Gitea push: full_name lowercased, clone and ssh URLs, pusher login", async (t) => {
  const { body } = await publishedBy(t, "gitea", "push");
  t.deepEqual(body.repo, { name: "shop/web-shop", urls: ["https://git.acme.example/shop/Web-Shop.git", "git@git.acme.example:shop/Web-Shop.git"] });
  t.is(body.ref, "refs/heads/main");
  t.is(body.before, c0);
  t.is(body.after, c2);
  t.is(body.provider, "gitea");
  t.deepEqual(body.pusher, { name: "jdoe", email: "jdoe@example.com" });
  t.is(body.commits.length, 2);
  t.is(body.commits[1]?.message, "Merge pull request 'Keep the basket across logins' (#214) from basket-session into main\n");
});

test("Gitea tag push", async (t) => {
  const { body } = await publishedBy(t, "gitea", "push-tag");
  t.is(body.ref, "refs/tags/v1.4.0");
  t.true(body.created);
  t.is(body.after, tagged);
});

test("Gitea branch deletion arrives as a delete event and becomes a deleted push of the full ref", async (t) => {
  const { body } = await publishedBy(t, "gitea", "delete-branch");
  t.is(body.ref, "refs/heads/basket-session");
  t.true(body.deleted);
  t.false(body.created);
  t.is(body.after, zeros);
  t.is(body.before, zeros, "Gitea's delete event does not say which commit the branch pointed at");
  t.deepEqual(body.pusher, { name: "jdoe", email: "jdoe@example.com" });
});

test("Gitea tag deletion comes as a push with after all zeros", async (t) => {
  const { body } = await publishedBy(t, "gitea", "delete-tag");
  t.is(body.ref, "refs/tags/v1.3.9");
  t.true(body.deleted);
  t.is(body.before, tagged);
});

test("Forgejo push on /webhooks/gitea", async (t) => {
  const { body } = await publishedBy(t, "forgejo", "push");
  t.is(body.repo.name, "shop/web-shop");
  t.is(body.provider, "gitea");
});

test("Forgejo headers alone (X-Forgejo-Event, -Delivery, -Signature) are enough", async (t) => {
  const running = await startWebhooks(t);
  const delivery = fixture("forgejo", "push");
  const headers = Object.fromEntries(Object.entries(delivery.headers).filter(([name]) => !/^X-(Gitea|Gogs|GitHub|Hub)-/i.test(name)));
  t.truthy(headers["X-Forgejo-Signature"]);
  const answer = await send(running.url, "gitea", { body: delivery.body, headers });
  t.is(answer.status, 202, JSON.stringify(answer.body));
});

test("the create event Gitea sends next to a push is answered 204 and not published twice", async (t) => {
  const running = await startWebhooks(t);
  const push = fixture("gitea", "push-tag");
  const { createHmac } = await import("node:crypto");
  // The create event Gitea sends next to the push: the push already carries it.
  const body = JSON.stringify({ sha: tagged, ref: "v1.4.0", ref_type: "tag", repository: JSON.parse(push.body.toString()).repository, sender: { login: "jdoe" } });
  const signature = createHmac("sha256", "It's a Secret to Everybody").update(body).digest("hex");
  const answer = await send(running.url, "gitea", {
    body: Buffer.from(body),
    headers: { "Content-Type": "application/json", "X-Gitea-Event": "create", "X-Gitea-Delivery": "b1c2", "X-Gitea-Signature": signature },
  });
  t.is(answer.status, 204);
  t.deepEqual(await settle(running.published), []);
});

test("GitHub's form-encoded content type (payload=JSON) is verified over the form body", async (t) => {
  const running = await startWebhooks(t);
  const { createHmac } = await import("node:crypto");
  const push = fixture("github", "push");
  const form = new URLSearchParams({ payload: push.body.toString("utf8") }).toString();
  const signature = createHmac("sha256", "It's a Secret to Everybody").update(form).digest("hex");
  const answer = await send(running.url, "github", {
    body: Buffer.from(form),
    headers: { ...push.headers, "Content-Type": "application/x-www-form-urlencoded", "X-Hub-Signature-256": `sha256=${signature}` },
  });
  t.is(answer.status, 202, JSON.stringify(answer.body));
  await waitFor(() => running.published.length === 1, 5_000, "the message");
  t.is(running.published[0]?.body.after, c2);
});

test("past maxCommits the newest commits are kept and the message says commitsTruncated", async (t) => {
  const running = await startWebhooks(t, { maxCommits: 1 });
  t.is((await send(running.url, "github", fixture("github", "push"))).status, 202);
  await waitFor(() => running.published.length === 1, 5_000, "the message");
  const body = running.published[0]?.body;
  t.deepEqual(
    body?.commits.map((c) => c.id),
    [c2],
  );
  t.true(body?.commitsTruncated);
});

test("a GitLab push listing fewer commits than total_commits_count is marked commitsTruncated", async (t) => {
  const running = await startWebhooks(t);
  const push = fixture("gitlab", "push");
  const payload = JSON.parse(push.body.toString("utf8"));
  payload.total_commits_count = 25;
  const answer = await send(running.url, "gitlab", { headers: push.headers, body: Buffer.from(JSON.stringify(payload)) });
  t.is(answer.status, 202);
  await waitFor(() => running.published.length === 1, 5_000, "the message");
  t.is(running.published[0]?.body.commits.length, 2);
  t.true(running.published[0]?.body.commitsTruncated);
});
