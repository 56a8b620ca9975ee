import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { startTestBroker } from "../../helpers/embedded-broker.ts";
import { waitFor } from "../../helpers/test-bus.ts";
import { SourceRepo, git, mirrorRefs, startFetcher, tempDir } from "./fetcher-fixture.ts";

test("clones a missing mirror on the first succeeded build and answers with the build's sha and correlationId", async (t) => {
  const source = await SourceRepo.create(t);
  const main = await source.commit();
  const tagged = await source.tag("v1.0.0", main);
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/web", url: source.url }] });
  const mirror = join(fetcher.mirrorDir, "acme/web.git");
  t.false(existsSync(mirror));

  const correlationId = await fetcher.build({ sha: main });
  const answer = await fetcher.answerFor(correlationId);
  t.is(answer.type, "repos.fetched.v1");
  t.like(answer.body, { host: "web-1", repo: "acme/web", ref: "refs/heads/main", sha: main, path: mirror, trigger: "build", fetched: true, cloned: true });
  t.is(answer.body.error, undefined);
  t.is(typeof answer.body.durationMs, "number");
  t.deepEqual(await mirrorRefs(mirror), { "refs/heads/main": main, "refs/tags/v1.0.0": tagged });
  t.is(await git(mirror, ["config", "remote.origin.url"]), source.url, "the mirror records where it comes from");
  t.true(await git(mirror, ["rev-parse", "--is-bare-repository"]).then((out) => out === "true"));
  t.false(existsSync(`${mirror}.creating`));
});

test("a build whose commit the mirror already has is answered without fetching", async (t) => {
  const source = await SourceRepo.create(t);
  const first = await source.commit();
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/web", url: source.dir }] });
  t.falsy((await fetcher.answerFor(await fetcher.build({ sha: first }))).body.error);
  t.is(fetcher.fetches(), 1);

  // With the git server gone, only an answer that never fetched can succeed.
  renameSync(source.dir, `${source.dir}.away`);
  const again = await fetcher.answerFor(await fetcher.build({ sha: first }));
  t.like(again.body, { sha: first, fetched: false, ref: "refs/heads/main" });
  t.is(again.body.error, undefined);
  t.is(fetcher.fetches(), 1);

  // A commit it does not have is fetched, and with the server gone that fails, said so in the answer.
  const failed = await fetcher.answerFor(await fetcher.build({ sha: "a".repeat(40) }));
  t.like(failed.body, { sha: "a".repeat(40), fetched: true });
  t.regex(failed.body.error ?? "", /git fetch failed/);
});

test("builds arriving together are coalesced into fewer fetches, and each is answered with its own correlationId", async (t) => {
  const source = await SourceRepo.create(t);
  await source.commit();
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/web", url: source.url }] });
  await fetcher.answerFor(await fetcher.build({}));
  const before = fetcher.fetches();

  const shas: string[] = [];
  for (let i = 0; i < 6; i++) shas.push(await source.commit(`refs/heads/feature-${i}`));
  const correlationIds = await Promise.all(shas.map((sha, i) => fetcher.build({ sha, ref: `refs/heads/feature-${i}` })));
  const answers = await Promise.all(correlationIds.map((id) => fetcher.answerFor(id)));

  for (const [i, answer] of answers.entries()) {
    t.like(answer.body, { sha: shas[i], ref: `refs/heads/feature-${i}` });
    t.is(answer.body.error, undefined);
  }
  const fetches = fetcher.fetches() - before;
  t.true(fetches >= 1 && fetches <= 2, `6 builds took ${fetches} fetches`);
  const refs = await mirrorRefs(join(fetcher.mirrorDir, "acme/web.git"));
  for (const [i, sha] of shas.entries()) t.is(refs[`refs/heads/feature-${i}`], sha);
});

test("a deleted branch or tag is pruned from the mirror on git.commits, whatever fetchOn says", async (t) => {
  const source = await SourceRepo.create(t);
  const main = await source.commit();
  const topic = await source.commit("refs/heads/topic");
  await source.tag("v0.1", topic);
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/web", url: source.url, fetchOn: "build" }] });
  const mirror = join(fetcher.mirrorDir, "acme/web.git");
  await fetcher.answerFor(await fetcher.build({ sha: main }));
  t.deepEqual(Object.keys(await mirrorRefs(mirror)).sort(), ["refs/heads/main", "refs/heads/topic", "refs/tags/v0.1"]);

  await source.deleteRef("refs/heads/topic");
  await source.deleteRef("refs/tags/v0.1");
  const branchGone = await fetcher.answerFor(await fetcher.push({ ref: "refs/heads/topic", after: "", deleted: true }));
  t.like(branchGone.body, { ref: "refs/heads/topic", trigger: "deletion", deleted: true, fetched: true });
  t.is(branchGone.body.sha, undefined);
  t.deepEqual(Object.keys(await mirrorRefs(mirror)), ["refs/heads/main"], "the deleted tag went with the same fetch");

  const tagGone = await fetcher.answerFor(await fetcher.push({ ref: "refs/tags/v0.1", after: "", deleted: true }));
  t.like(tagGone.body, { ref: "refs/tags/v0.1", deleted: true, fetched: false }, "already pruned: nothing to fetch");
});

test("fetchOn commit fetches on every push; fetchOn build waits for the succeeded build", async (t) => {
  const onCommit = await SourceRepo.create(t);
  const onBuild = await SourceRepo.create(t);
  const fetcher = await startFetcher(t, {
    repos: [
      { name: "acme/api", url: onCommit.url, fetchOn: "commit" },
      { name: "acme/web", url: onBuild.url },
    ],
  });
  const pushed = await onCommit.commit();
  const answer = await fetcher.answerFor(await fetcher.push({ repo: "acme/api", after: pushed }));
  t.like(answer.body, { repo: "acme/api", sha: pushed, trigger: "commit", fetched: true });
  t.is((await mirrorRefs(join(fetcher.mirrorDir, "acme/api.git")))["refs/heads/main"], pushed);

  // The build of the pushed commit is still answered (the end-to-end flow waits for it), without a fetch.
  const built = await fetcher.answerFor(await fetcher.build({ repo: "acme/api", sha: pushed }));
  t.like(built.body, { repo: "acme/api", sha: pushed, trigger: "build", fetched: false });

  const waiting = await onBuild.commit();
  const ignored = await fetcher.push({ repo: "acme/web", after: waiting });
  // A deletion is handled on the same topic after the push, so once it is answered the push was seen.
  await fetcher.answerFor(await fetcher.push({ repo: "acme/web", ref: "refs/heads/gone", after: "", deleted: true }));
  t.false(fetcher.answers.some((a) => a.correlationId === ignored), "no answer to a push for a fetchOn build repository");
  const refs = await mirrorRefs(join(fetcher.mirrorDir, "acme/web.git"));
  t.is(refs["refs/heads/main"], waiting, "the deletion's fetch brought main along, as any fetch does");
  const build = await fetcher.answerFor(await fetcher.build({ repo: "acme/web", sha: waiting }));
  t.like(build.body, { sha: waiting, fetched: false });
});

test("the periodic fetch catches up on a missed push and publishes what changed; an idle one publishes nothing", async (t) => {
  const source = await SourceRepo.create(t);
  const first = await source.commit();
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/web", url: source.url }], config: { interval: 300 } });
  const mirror = join(fetcher.mirrorDir, "acme/web.git");
  await waitFor(() => fetcher.answers.length >= 1, 10_000, "the first periodic fetch");
  const cloned = fetcher.answers[0];
  t.like(cloned?.body, { trigger: "periodic", cloned: true, changeCount: 1 });
  t.deepEqual(cloned?.body.changes, [{ ref: "refs/heads/main", sha: first }]);
  t.is(cloned?.correlationId, cloned?.id, "a periodic answer starts its own correlation");

  const fetchesBefore = fetcher.fetches();
  await waitFor(() => fetcher.fetches() >= fetchesBefore + 2, 10_000, "two idle periodic fetches");
  t.is(fetcher.answers.length, 1, "idle periodic fetches publish nothing");

  const missed = await source.commit();
  const release = await source.commit("refs/heads/release");
  const changed = () => fetcher.answers.slice(1).flatMap((a) => a.body.changes ?? []);
  await waitFor(() => changed().some((c) => c.ref === "refs/heads/release"), 10_000, "the periodic fetch of the missed pushes");
  t.deepEqual(
    changed().sort((a, b) => a.ref.localeCompare(b.ref)),
    [
      { ref: "refs/heads/main", sha: missed },
      { ref: "refs/heads/release", sha: release },
    ],
  );
  t.true(fetcher.answers.slice(1).every((a) => a.body.trigger === "periodic" && a.body.fetched && a.body.error === undefined));
  t.is((await mirrorRefs(mirror))["refs/heads/main"], missed);
});

test("a git.commits message is matched by clone URL when its name differs", async (t) => {
  const source = await SourceRepo.create(t);
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/web", url: source.url, fetchOn: "commit" }] });
  const sha = await source.commit();
  const id = await fetcher.push({ repo: "legacy/web-renamed", urls: [`https://example.com/x.git`, `${source.url}/`], after: sha });
  const answer = await fetcher.answerFor(id);
  t.like(answer.body, { repo: "acme/web", sha, trigger: "commit" });
});

test("failed builds and other phases are not fetched", async (t) => {
  const source = await SourceRepo.create(t);
  const sha = await source.commit();
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/web", url: source.url }] });
  const ignored = await Promise.all(["queued", "started", "failed", "aborted"].map((phase) => fetcher.build({ sha, phase })));
  await fetcher.answerFor(await fetcher.build({ sha }));
  t.false(fetcher.answers.some((a) => ignored.includes(a.correlationId)));
  t.is(fetcher.answers.length, 1);
});

test("works over the embedded STOMP broker: a build in, repos.fetched out", async (t) => {
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  const source = await SourceRepo.create(t);
  const sha = await source.commit();
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/web", url: source.url }], busUrl: broker.url });
  await fetcher.publisher.connected(10_000);
  const answer = await fetcher.answerFor(await fetcher.build({ sha }));
  t.like(answer.body, { repo: "acme/web", sha, fetched: true });
  t.is(answer.source.component, "test");
});

test("a mirror path given in the entry is used as is, and a directory created ahead by Puppet is filled", async (t) => {
  const source = await SourceRepo.create(t);
  const sha = await source.commit();
  const path = join(tempDir(t), "custom", "web.git");
  mkdirSync(path, { recursive: true });
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/web", url: source.url, path }] });
  const answer = await fetcher.answerFor(await fetcher.build({ sha }));
  t.like(answer.body, { path, cloned: true });
  t.is((await mirrorRefs(path))["refs/heads/main"], sha);
});
