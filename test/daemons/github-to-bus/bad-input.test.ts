import { createHmac } from "node:crypto";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import type { GithubToBusConfig } from "../../../daemons/github-to-bus/config.ts";
import { githubToBus } from "../../../daemons/github-to-bus/index.ts";
import { silent, testBus, uniquePrefix } from "../../helpers/test-bus.ts";
import { type Delivery, type Running, altered, baseConfig, fixture, fixtureSecret, send, settle, startWebhooks } from "./webhook-helpers.ts";

// Whatever arrives that is not a verified, sensible push gets a 4xx that
// says why, and nothing reaches the bus.

const sign = (body: Buffer | string, secret = fixtureSecret) => createHmac("sha256", secret).update(body).digest("hex");

/** A GitHub push with `change` applied to its payload, signed again so that only the change is wrong. */
function githubPush(change: (payload: Record<string, unknown>) => void, secret = fixtureSecret): Delivery {
  const push = fixture("github", "push");
  const payload = JSON.parse(push.body.toString("utf8")) as Record<string, unknown>;
  change(payload);
  const body = JSON.stringify(payload);
  return altered(push, { "X-Hub-Signature-256": `sha256=${sign(body, secret)}` }, body);
}

async function refused(t: ExecutionContext, running: Running, provider: string, delivery: Delivery, status: number, error: RegExp) {
  const answer = await send(running.url, provider, delivery);
  t.is(answer.status, status, JSON.stringify(answer.body));
  t.regex(String(answer.body.error), error);
  t.deepEqual(await settle(running.published), [], "nothing published");
}

async function outcomes(running: Running): Promise<string> {
  return (await fetch(`${running.url}/metrics`)).text();
}

test("a GitHub delivery with a wrong, missing or SHA-1-only signature is 401", async (t) => {
  const running = await startWebhooks(t);
  const push = fixture("github", "push");
  await refused(t, running, "github", altered(push, { "X-Hub-Signature-256": `sha256=${sign(push.body, "another secret")}` }), 401, /X-Hub-Signature-256/);
  await refused(t, running, "github", altered(push, { "X-Hub-Signature-256": undefined }), 401, /X-Hub-Signature-256 is missing or does not match/);
  await refused(t, running, "github", altered(push, { "X-Hub-Signature-256": sign(push.body) }), 401, /X-Hub-Signature-256/);
  await refused(t, running, "github", altered(push, { "X-Hub-Signature-256": "sha256=zz" }), 401, /X-Hub-Signature-256/);
  // The body changed after signing: the signature is over the exact bytes.
  await refused(t, running, "github", altered(push, {}, push.body.toString().replace("refs/heads/main", "refs/heads/prod")), 401, /X-Hub-Signature-256/);
  t.regex(await outcomes(running), /deploykit_github_to_bus_deliveries_total\{provider="github",outcome="unauthorized"\} 5/);
});

test("a GitLab delivery with a wrong token and a Gitea one with a wrong signature are 401", async (t) => {
  const running = await startWebhooks(t);
  await refused(t, running, "gitlab", altered(fixture("gitlab", "push"), { "X-Gitlab-Token": "guess" }), 401, /X-Gitlab-Token/);
  await refused(t, running, "gitlab", altered(fixture("gitlab", "push"), { "X-Gitlab-Token": undefined }), 401, /X-Gitlab-Token/);
  const gitea = fixture("gitea", "push");
  await refused(t, running, "gitea", altered(gitea, { "X-Gitea-Signature": sign(gitea.body, "guess"), "X-Forgejo-Signature": undefined }), 401, /X-Gitea-Signature/);
  // A GitHub-style signature on the Gitea endpoint is not what Gitea proves with.
  await refused(t, running, "gitea", altered(gitea, { "X-Gitea-Signature": undefined, "X-Gogs-Signature": undefined }), 401, /X-Gitea-Signature/);
});

test("the generic endpoint needs its bearer token", async (t) => {
  const running = await startWebhooks(t);
  const body = JSON.stringify({ repo: { name: "acme/tools" }, ref: "refs/heads/main", before: "0".repeat(40), after: "a".repeat(40) });
  await refused(t, running, "generic", { headers: { "Content-Type": "application/json" }, body: Buffer.from(body) }, 401, /Authorization: Bearer/);
  await refused(t, running, "generic", { headers: { "Content-Type": "application/json", Authorization: "Bearer nope" }, body: Buffer.from(body) }, 401, /Bearer/);
  await refused(t, running, "generic", { headers: { "Content-Type": "application/json", Authorization: "generic-token" }, body: Buffer.from(body) }, 401, /Bearer/);
});

test("a provider without a secret answers 404 and says which key to set; it never takes unsigned posts", async (t) => {
  const running = await startWebhooks(t, { githubSecret: "", gitlabToken: "", giteaSecret: "", genericToken: "" });
  const push = fixture("github", "push");
  await refused(t, running, "github", altered(push, { "X-Hub-Signature-256": undefined }), 404, /githubSecret \(DEPLOYKIT_GITHUB_TO_BUS_GITHUB_SECRET\)/);
  await refused(t, running, "gitlab", fixture("gitlab", "push"), 404, /gitlabToken/);
  await refused(t, running, "gitea", fixture("gitea", "push"), 404, /giteaSecret/);
  await refused(t, running, "generic", { headers: {}, body: Buffer.from("{}") }, 404, /genericToken/);
  t.true(running.lines.some((line) => String(line.msg).startsWith("no webhook secret is configured")));
});

test("broken JSON that is correctly signed is 400; unsigned broken JSON is 401", async (t) => {
  const running = await startWebhooks(t);
  const broken = '{"ref": "refs/heads/main", ';
  const push = fixture("github", "push");
  await refused(t, running, "github", altered(push, { "X-Hub-Signature-256": `sha256=${sign(broken)}` }, broken), 400, /body is not valid JSON/);
  await refused(t, running, "github", altered(push, {}, broken), 401, /X-Hub-Signature-256/);
  const gitlabBroken = altered(fixture("gitlab", "push"), {}, "not json at all");
  await refused(t, running, "gitlab", gitlabBroken, 400, /body is not valid JSON/);
  await refused(t, running, "gitlab", altered(fixture("gitlab", "push"), {}, ""), 400, /empty/);
});

test("a signed payload that is JSON but not a push payload is 400 and names the field", async (t) => {
  const running = await startWebhooks(t);
  await refused(t, running, "github", githubPush((p) => delete p.ref), 400, /not a GitHub push payload: ref/);
  await refused(t, running, "github", githubPush((p) => (p.commits = "many")), 400, /commits/);
  const array = "[1,2,3]";
  await refused(t, running, "github", altered(fixture("github", "push"), { "X-Hub-Signature-256": `sha256=${sign(array)}` }, array), 400, /not a GitHub push payload/);
  await refused(t, running, "github", githubPush((p) => (p.after = "not-a-sha")), 400, /after/);
  await refused(
    t,
    running,
    "github",
    githubPush((p) => ((p.commits as { timestamp: string }[])[0] = { ...(p.commits as { timestamp: string }[])[0], timestamp: "yesterday" })),
    400,
    /commits\.0\.timestamp/,
  );
  t.regex(await outcomes(running), /deploykit_github_to_bus_deliveries_total\{provider="github",outcome="invalid"\} 5/);
});

test("refs that could be read as options or shell are refused with 400 and stay inert", async (t) => {
  const running = await startWebhooks(t);
  const dir = mkdtempSync(join(tmpdir(), "dk-refs-"));
  const marker = join(dir, "pwned");
  const hostile = [`--upload-pack=touch ${marker}`, `$(touch ${marker})`, `refs/heads/$(touch ${marker})`, "refs/heads/-x", "main", "refs/heads/a..b", "refs/heads/x\n"];
  for (const ref of hostile) {
    await refused(t, running, "github", githubPush((p) => (p.ref = ref)), 400, /is not a full git ref|is not a valid/);
  }
  const generic = (ref: string) => ({
    headers: { "Content-Type": "application/json", Authorization: "Bearer generic-token" },
    body: Buffer.from(JSON.stringify({ repo: { name: "acme/tools" }, ref, before: "0".repeat(40), after: "a".repeat(40) })),
  });
  await refused(t, running, "generic", generic(`--upload-pack=touch ${marker}`), 400, /is not a full git ref/);
  await refused(t, running, "generic", generic(`$(touch ${marker})`), 400, /is not a full git ref/);
  t.false(existsSync(marker));
});

test("repository names and clone URLs that could escape a path or pose as an option are 400", async (t) => {
  const running = await startWebhooks(t);
  const repository = (change: Record<string, unknown>) => githubPush((p) => Object.assign(p.repository as object, change));
  await refused(t, running, "github", repository({ full_name: "../../etc" }), 400, /repository name "..\/..\/etc"/);
  await refused(t, running, "github", repository({ full_name: "-oops/x" }), 400, /repository name/);
  await refused(t, running, "github", repository({ full_name: "acme/$(touch x)" }), 400, /repository name/);
  await refused(t, running, "github", repository({ clone_url: "--upload-pack=touch /tmp/x" }), 400, /clone URL/);
  await refused(t, running, "github", repository({ ssh_url: "ext::sh -c touch% /tmp/x" }), 400, /clone URL/);
  await refused(t, running, "github", repository({ clone_url: "file:///etc" }), 400, /clone URL/);
});

test("a repository not in github-to-bus.repos is 403; its ping too", async (t) => {
  const running = await startWebhooks(t, { repos: ["shop/web-shop"] });
  await refused(t, running, "github", fixture("github", "push"), 403, /repository acme\/web-shop is not one this daemon publishes/);
  await refused(t, running, "github", fixture("github", "ping"), 403, /acme\/web-shop/);
  const gitlab = await send(running.url, "gitlab", fixture("gitlab", "push"));
  t.is(gitlab.status, 202, "a listed repository goes through");
});

test("with repository secrets only, an unknown repository has no secret and is 401", async (t) => {
  const running = await startWebhooks(t, { githubSecret: "", gitlabToken: "", giteaSecret: "", genericToken: "", repoSecrets: ["shop/web-shop=shop secret"] });
  await refused(t, running, "github", fixture("github", "push"), 401, /no secret is configured for repository acme\/web-shop/);
  const ownSecret = githubPush((p) => Object.assign(p.repository as object, { full_name: "Shop/Web-Shop" }), "shop secret");
  const answer = await send(running.url, "github", ownSecret);
  t.is(answer.status, 202, "the listed repository with its own secret");
});

test("a repository with its own secret is not accepted with the provider's secret", async (t) => {
  const running = await startWebhooks(t, { repoSecrets: ["acme/web-shop=its own"] });
  await refused(t, running, "github", fixture("github", "push"), 401, /X-Hub-Signature-256/);
  const answer = await send(running.url, "github", githubPush(() => {}, "its own"));
  t.is(answer.status, 202);
  t.is((await send(running.url, "gitlab", fixture("gitlab", "push"))).status, 202, "other repositories keep the provider's secret");
});

test("a body over maxBodySize is 413 and counted", async (t) => {
  const running = await startWebhooks(t, { maxBodySize: 4096 });
  const push = fixture("github", "push");
  t.true(push.body.length > 4096);
  await refused(t, running, "github", push, 413, /request body too large/);
  t.regex(await outcomes(running), /deploykit_github_to_bus_deliveries_total\{provider="github",outcome="too_large"\} 1/);
});

test("events deploykit does not act on are answered 204 and publish nothing", async (t) => {
  const running = await startWebhooks(t);
  const issue = JSON.stringify({ action: "opened", issue: { number: 1 }, repository: { full_name: "Acme/Web-Shop" } });
  const github = altered(fixture("github", "push"), { "X-GitHub-Event": "issues", "X-Hub-Signature-256": `sha256=${sign(issue)}` }, issue);
  const answer = await send(running.url, "github", github);
  t.is(answer.status, 204);
  const note = altered(fixture("gitlab", "push"), { "X-Gitlab-Event": "Note Hook" }, JSON.stringify({ object_kind: "note" }));
  t.is((await send(running.url, "gitlab", note)).status, 204);
  t.deepEqual(await settle(running.published), []);
  t.regex(await outcomes(running), /deploykit_github_to_bus_deliveries_total\{provider="github",outcome="ignored"\} 1/);
});

test("an unhandled event with a bad signature is still 401, not 204", async (t) => {
  const running = await startWebhooks(t);
  const github = altered(fixture("github", "push"), { "X-GitHub-Event": "issues", "X-Hub-Signature-256": `sha256=${"0".repeat(64)}` });
  t.is((await send(running.url, "github", github)).status, 401);
});

test("a malformed repoSecrets or repos entry stops the daemon from starting, naming the key", async (t) => {
  const bus = testBus(`memory://${uniquePrefix()}`, "dk");
  t.teardown(() => bus.close({ graceMs: 0 }));
  const start = (overrides: Partial<GithubToBusConfig>) =>
    githubToBus.start({ config: baseConfig(overrides), bus, log: silent, signal: new AbortController().signal, host: "h", announce: () => {} });
  await t.throwsAsync(start({ repoSecrets: ["acme/web-shop"] }), { message: /github-to-bus\.repoSecrets: entry \(no '='\) is not owner\/name=SECRET/ });
  await t.throwsAsync(start({ repoSecrets: ["acme/web-shop="] }), { message: /repoSecrets: entry "acme\/web-shop=…"/ });
  await t.throwsAsync(start({ repoSecrets: ["../x=secret"] }), { message: /repoSecrets/ });
  await t.throwsAsync(start({ repoSecrets: ["a/b=1", "A/B=2"] }), { message: /a\/b is listed twice/ });
  await t.throwsAsync(start({ repos: ["acme/web shop"] }), { message: /github-to-bus\.repos: "acme\/web shop"/ });
});
