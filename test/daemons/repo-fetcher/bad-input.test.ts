import { randomUUID } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import test from "ava";
import { routeName } from "../../../shared/bus/destinations.ts";
import type { BodyOf, Envelope } from "../../../shared/messages/index.ts";
import { maxWaiting } from "../../../daemons/repo-fetcher/fetch-queue.ts";
import { routeBuild, routeCommit } from "../../../daemons/repo-fetcher/route-message.ts";
import type { RepoEntry } from "../../../daemons/repo-fetcher/repos-file.ts";
import { rawTransport, testBus, transportReady, uniquePrefix, waitFor } from "../../helpers/test-bus.ts";
import { SourceRepo, mirrorRefs, startFetcher, tempDir } from "./fetcher-fixture.ts";

const zeros = "0".repeat(40);

/** A TCP server that takes connections and never says a word, like a git server that hangs. */
async function silentServer(t: import("ava").ExecutionContext): Promise<{ port: number; connections: () => number }> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as net.AddressInfo).port, connections: () => connections };
}

/** A port nothing listens on: a git server that is down. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test("messages about repositories this host does not carry are ignored: no fetch, no mirror, no answer", async (t) => {
  const source = await SourceRepo.create(t);
  const sha = await source.commit();
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/web", url: source.url, fetchOn: "commit" }] });
  const ignored = [
    await fetcher.build({ repo: "other/repo", sha }),
    await fetcher.build({ repo: "--upload-pack=touch /tmp/x", sha }),
    await fetcher.push({ repo: "other/repo", urls: ["https://example.com/other/repo.git"], after: sha }),
  ];
  const known = await fetcher.build({ sha });
  await fetcher.answerFor(known);
  await fetcher.answerFor(await fetcher.push({ ref: "refs/heads/gone", after: "", deleted: true }));
  t.false(fetcher.answers.some((a) => ignored.includes(a.correlationId)));
  t.deepEqual(readdirSync(fetcher.mirrorDir), ["acme"], "only the carried repository has a mirror");
  t.deepEqual(readdirSync(join(fetcher.mirrorDir, "acme")), ["web.git"]);
});

test("refs that look like options or shell commands are refused by the bus before they reach git, and nothing runs", async (t) => {
  const source = await SourceRepo.create(t);
  const sha = await source.commit();
  const dir = tempDir(t);
  const marker = join(dir, "pwned");
  const url = `memory://${uniquePrefix()}`;
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/web", url: source.url, fetchOn: "commit" }], busUrl: url });
  await fetcher.answerFor(await fetcher.build({ sha }));

  const watcher = testBus(url, fetcher.prefix);
  t.teardown(() => watcher.close({ graceMs: 0 }));
  const raw = rawTransport(url);
  t.teardown(() => raw.close());
  await transportReady(raw);
  const dead: Envelope<{ reason: string }>[] = [];
  await watcher.subscribe("deadletter", (message) => void dead.push(message as Envelope<{ reason: string }>));

  const envelope = (type: string, body: unknown) =>
    JSON.stringify({ type, id: randomUUID(), time: new Date().toISOString(), source: { component: "evil", host: "h" }, correlationId: randomUUID(), body });
  const badRefs = [`--upload-pack=touch ${marker}`, `$(touch ${marker})`, `refs/heads/main;touch ${marker}`, `refs/heads/\`touch ${marker}\``];
  const sent: string[] = [];
  for (const ref of badRefs) {
    sent.push(envelope("builds.v1", { job: "web", phase: "succeeded", repo: "acme/web", ref, sha }));
    sent.push(
      envelope("git.commits.v1", {
        repo: { name: "acme/web", urls: [] },
        ref,
        before: zeros,
        after: sha,
        created: false,
        deleted: false,
        forced: false,
        commits: [],
        pusher: { name: "x" },
        provider: "generic",
      }),
    );
  }
  sent.push(envelope("builds.v1", { job: "web", phase: "succeeded", repo: "acme/web", ref: "refs/heads/main", sha: `--upload-pack=touch ${marker}` }));
  for (const body of sent) {
    const topic = body.includes('"builds.v1"') ? "builds" : "git.commits";
    await raw.publish(body, { route: routeName(fetcher.prefix, topic), headers: {}, confirm: true });
  }
  await waitFor(() => dead.length >= sent.length, 10_000, "every bad message dead-lettered");
  t.true(dead.every((d) => /ref|sha/.test(d.body.reason)), dead.map((d) => d.body.reason).join("\n"));
  t.false(existsSync(marker), "nothing was executed");
  t.is(fetcher.answers.length, 1, "only the first, valid build was answered");
  t.is(fetcher.fetches(), 1);
});

test("a valid ref that a shell would run stays inert: fetched as a plain name, nothing executed", async (t) => {
  const source = await SourceRepo.create(t);
  const dir = tempDir(t);
  const marker = join(dir, "pwned");
  const ref = `refs/heads/$(touch\${IFS}${marker})`;
  const sha = await source.commit(ref);
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/web", url: source.url, fetchOn: "commit" }] });
  const pushed = await fetcher.answerFor(await fetcher.push({ ref, after: sha }));
  t.like(pushed.body, { ref, sha, fetched: true });
  t.is(pushed.body.error, undefined);
  const built = await fetcher.answerFor(await fetcher.build({ ref, sha }));
  t.like(built.body, { ref, sha, fetched: false });
  t.is((await mirrorRefs(join(fetcher.mirrorDir, "acme/web.git")))[ref], sha);
  t.false(existsSync(marker));
});

test("the daemon's own checks refuse bad refs and ids even when a message skipped the bus's validation", (t) => {
  const repos: RepoEntry[] = [{ name: "acme/web", url: "/srv/git/web.git", path: "/m/web.git", fetchOn: "commit", file: "x.yaml" }];
  const envelope = <B>(body: B): Envelope<B> => ({ type: "t.v1", id: randomUUID(), time: "", source: { component: "c", host: "h" }, correlationId: randomUUID(), body });
  const build = (fields: Record<string, unknown>) =>
    routeBuild(envelope({ job: "j", phase: "succeeded", repo: "acme/web", artifacts: [], ...fields }) as Envelope<BodyOf<"builds">>, repos, performance.now());
  t.deepEqual(build({ ref: "--upload-pack=touch /tmp/x", sha: "a".repeat(40) }), { ignored: "refused: ref is not a valid git ref" });
  t.deepEqual(build({ ref: "refs/heads/main", sha: "$(touch /tmp/x)" }), { ignored: "refused: sha is not a full hex commit id" });
  const commit = (ref: string, after: string) =>
    routeCommit(
      envelope({ repo: { name: "acme/web", urls: [] }, ref, before: zeros, after, created: false, deleted: false, forced: false, commits: [], pusher: { name: "p" }, provider: "generic" }) as Envelope<
        BodyOf<"git.commits">
      >,
      repos,
      performance.now(),
    );
  t.deepEqual(commit("-refs/heads/x", "a".repeat(40)), { ignored: "refused: ref is not a valid git ref" });
  t.deepEqual(commit("refs/heads/main", "r42"), { ignored: "after is not a git object id" });
  t.deepEqual(commit("refs/pull/1/head", "a".repeat(40)), { ignored: "refs/pull/1/head is neither a branch nor a tag: mirrors carry only those" });
  const routed = commit("refs/heads/main", "a".repeat(40));
  t.true("routed" in routed && routed.routed[0]?.trigger.sha === "a".repeat(40));
});

test("clone URLs that git or ssh could read as options, or that name a transport helper, are refused at start", async (t) => {
  const dir = tempDir(t);
  const marker = join(dir, "pwned");
  const bad = [`--upload-pack=touch ${marker}`, "-oProxyCommand=touch@host:x", `ext::sh -c touch% ${marker}`, `ext::touch${marker}`, "ssh://-oProxyCommand=x/y", "fd::3"];
  for (const url of bad) {
    const error = await t.throwsAsync(startFetcher(t, { repos: [{ name: "acme/web", url }] }));
    t.regex(error?.message ?? "", /repos\.0\.url: /, url);
  }
  t.false(existsSync(marker));
});

test("a git server that is down: the error is published in repos.fetched.v1 and the daemon keeps running", async (t) => {
  const port = await closedPort();
  const good = await SourceRepo.create(t);
  const sha = await good.commit();
  const fetcher = await startFetcher(t, {
    repos: [
      { name: "acme/down", url: `git://127.0.0.1:${port}/down.git` },
      { name: "acme/web", url: good.url },
    ],
  });
  const failed = await fetcher.answerFor(await fetcher.build({ repo: "acme/down", sha }));
  t.like(failed.body, { repo: "acme/down", sha, fetched: true });
  t.regex(failed.body.error ?? "", /git fetch failed .*(refused|unable to connect)/i);
  t.false(existsSync(join(fetcher.mirrorDir, "acme/down.git")), "no half-made mirror is left");
  t.false(existsSync(join(fetcher.mirrorDir, "acme/down.git.creating")));

  const ok = await fetcher.answerFor(await fetcher.build({ repo: "acme/web", sha }));
  t.is(ok.body.error, undefined);
  const again = await fetcher.answerFor(await fetcher.build({ repo: "acme/down", sha }));
  t.regex(again.body.error ?? "", /git fetch failed/, "it tries again on the next request");
});

test("a fetch that hangs is killed at fetchTimeout and the error published; other repositories go on", async (t) => {
  const hanging = await silentServer(t);
  const good = await SourceRepo.create(t);
  const sha = await good.commit();
  const fetcher = await startFetcher(t, {
    repos: [
      { name: "acme/hang", url: `git://127.0.0.1:${hanging.port}/hang.git` },
      { name: "acme/web", url: good.url },
    ],
    config: { fetchTimeout: 800, concurrency: 1 },
  });
  const started = Date.now();
  const hung = await fetcher.build({ repo: "acme/hang", sha });
  const next = await fetcher.build({ repo: "acme/web", sha });
  const failed = await fetcher.answerFor(hung);
  t.regex(failed.body.error ?? "", /git fetch timed out after 800 ms/);
  t.true(Date.now() - started < 8_000);
  t.true(hanging.connections() >= 1, "git did reach the server");
  const ok = await fetcher.answerFor(next);
  t.is(ok.body.error, undefined, "the next repository waited for its turn (concurrency 1) and then fetched");
  t.true(ok.body.durationMs >= 700, `it waited for the hung fetch: ${ok.body.durationMs} ms`);
});

test("stopping kills a running fetch at once instead of waiting for the timeout", async (t) => {
  const hanging = await silentServer(t);
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/hang", url: `git://127.0.0.1:${hanging.port}/hang.git` }], config: { fetchTimeout: 60_000 } });
  await fetcher.build({ repo: "acme/hang", sha: "b".repeat(40) });
  await waitFor(() => hanging.connections() >= 1, 10_000, "git to connect");
  const started = Date.now();
  await fetcher.stop();
  t.true(Date.now() - started < 5_000, `stop took ${Date.now() - started} ms`);
  t.is(fetcher.answers.length, 0, "nothing is published while stopping");
  t.false(existsSync(join(fetcher.mirrorDir, "acme/hang.git.creating")), "the unfinished clone was cleaned up");
});

test("a commit that is not on the git server is answered with an error after the fetch", async (t) => {
  const source = await SourceRepo.create(t);
  await source.commit();
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/web", url: source.url }] });
  const missing = "c".repeat(40);
  const answer = await fetcher.answerFor(await fetcher.build({ sha: missing }));
  t.like(answer.body, { sha: missing, fetched: true, cloned: true });
  t.regex(answer.body.error ?? "", /is not on any branch or tag of the git server/);
});

test("requests piling up behind a hung fetch are bounded: past the bound they are answered with an error at once", async (t) => {
  const hanging = await silentServer(t);
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/hang", url: `git://127.0.0.1:${hanging.port}/hang.git` }], config: { fetchTimeout: 60_000 } });
  const ids: string[] = [];
  for (let i = 0; i < maxWaiting + 2; i += 100) {
    const count = Math.min(100, maxWaiting + 2 - i);
    ids.push(...(await Promise.all(Array.from({ length: count }, () => fetcher.build({ repo: "acme/hang", sha: "d".repeat(40) })))));
  }
  await waitFor(() => fetcher.answers.length >= 1, 10_000, "the refusal");
  await new Promise((resolve) => setTimeout(resolve, 200));
  t.is(fetcher.answers.length, 1, "one running, a full queue waiting, one refused");
  t.regex(fetcher.answers[0]?.body.error ?? "", new RegExp(`${maxWaiting} requests are already waiting`));
  t.true(ids.includes(fetcher.answers[0]?.correlationId as string));
});
