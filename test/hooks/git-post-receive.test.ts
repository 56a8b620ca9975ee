import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import type { RunningBroker } from "../../daemons/broker/start-broker.ts";
import { startTestBroker } from "../helpers/embedded-broker.ts";
import { uniquePrefix, waitFor } from "../helpers/test-bus.ts";
import { type Commits, cleanEnv, collect, deploykit, remoteLines, run, spoolFiles, tempDir } from "./hook-fixture.ts";

// hooks/git/post-receive on a real bare repository, installed with
// `deploykit hook install`, receiving real pushes; its messages are read back
// from an embedded broker.

let broker: RunningBroker;
test.before(async () => {
  broker = await startTestBroker();
});
test.after.always(async () => {
  await broker?.close();
});

interface Server {
  dir: string;
  bare: string;
  work: string;
  spool: string;
  env: Record<string, string>;
}

/** A bare repository below a repository root, the hook installed, and a clone to push from. */
async function server(busUrl: string, prefix: string, extra: Record<string, string> = {}): Promise<Server> {
  const dir = tempDir("dk-post-receive-");
  const bare = join(dir, "srv", "Team", "Shop.git");
  const work = join(dir, "work");
  const spool = join(dir, "spool");
  const env = cleanEnv(join(dir, "home"), {
    DEPLOYKIT_BUS_URL: busUrl,
    DEPLOYKIT_BUS_PREFIX: prefix,
    DEPLOYKIT_SPOOL_DIR: spool,
    DEPLOYKIT_HOOKS_REPO_ROOTS: join(dir, "srv"),
    DEPLOYKIT_HOOKS_PUBLISH_TIMEOUT: "1500ms",
    GL_USERNAME: "grace",
    ...extra,
  });
  await run("git", ["init", "-q", "--bare", bare], dir, env);
  const installed = await deploykit(["hook", "install", "git-post-receive", bare], dir, env);
  if (installed.exitCode !== 0) throw new Error(String(installed.stderr));
  await run("git", ["init", "-q", "-b", "main", work], dir, env);
  await run("git", ["remote", "add", "origin", bare], work, env);
  return { dir, bare, work, spool, env };
}

async function commit(work: string, env: Record<string, string>, message: string): Promise<string> {
  await run("git", ["commit", "-q", "--allow-empty", "-m", message], work, env);
  return (await run("git", ["rev-parse", "HEAD"], work, env)).stdout.trim();
}

async function push(s: Server, args: string[]): Promise<string[]> {
  const { stderr } = await run("git", ["push", "--porcelain", "origin", ...args], s.work, s.env);
  return remoteLines(stderr);
}

const zeros = "0".repeat(40);

test.serial("branch push, tag push, force push and branch delete each arrive as one git.commits.v1", async (t) => {
  const prefix = uniquePrefix();
  const { bus, messages } = await collect(broker.url, prefix);
  t.teardown(() => bus.close());
  const s = await server(broker.url, prefix);
  const next = async (count: number): Promise<Commits> => {
    await waitFor(() => messages.length >= count, 15_000, `message ${count}`);
    return messages[count - 1] as Commits;
  };

  const first = await commit(s.work, s.env, "first");
  const second = await commit(s.work, s.env, "second\n\nwith a body");
  t.deepEqual(await push(s, ["main"]), [], "a push that reached the bus prints nothing");
  const created = await next(1);
  t.is(created.type, "git.commits.v1");
  t.is(created.source.component, "git-hook");
  t.is(created.correlationId, created.id, "a push starts its own chain");
  t.like(created.body, { repo: { name: "team/shop", urls: [] }, ref: "refs/heads/main", before: zeros, after: second });
  t.like(created.body, { created: true, deleted: false, forced: false, provider: "git-hook", pusher: { name: "grace" } });
  t.deepEqual(
    created.body.commits.map((c) => [c.id, c.message, c.author.name, c.author.email]),
    [
      [first, "first", "Ada Lovelace", "ada@example.org"],
      [second, "second\n\nwith a body", "Ada Lovelace", "ada@example.org"],
    ],
    "oldest first, full messages",
  );
  t.false(Number.isNaN(Date.parse(created.body.commits[0]?.timestamp ?? "")));

  const third = await commit(s.work, s.env, "third");
  await push(s, ["main"]);
  const updated = await next(2);
  t.like(updated.body, { ref: "refs/heads/main", before: second, after: third, created: false, forced: false });
  t.deepEqual(updated.body.commits.map((c) => c.id), [third], "only what the push added");

  await run("git", ["tag", "-a", "v1.0", "-m", "release 1.0"], s.work, s.env);
  const tagObject = (await run("git", ["rev-parse", "v1.0"], s.work, s.env)).stdout.trim();
  await push(s, ["refs/tags/v1.0"]);
  const tag = await next(3);
  t.like(tag.body, { ref: "refs/tags/v1.0", before: zeros, after: tagObject, created: true, deleted: false });
  t.deepEqual(tag.body.commits, [], "a tag on a pushed commit brings no new commits");

  await run("git", ["checkout", "-q", "-b", "feature"], s.work, s.env);
  const feature = await commit(s.work, s.env, "feature work");
  await push(s, ["feature"]);
  const branch = await next(4);
  t.like(branch.body, { ref: "refs/heads/feature", created: true, after: feature });
  t.deepEqual(branch.body.commits.map((c) => c.id), [feature], "a new branch lists only what no other ref has");

  await run("git", ["reset", "-q", "--hard", second], s.work, s.env);
  const rewritten = await commit(s.work, s.env, "rewritten");
  await push(s, ["--force", "feature"]);
  const forced = await next(5);
  t.like(forced.body, { ref: "refs/heads/feature", before: feature, after: rewritten, forced: true, created: false });
  t.deepEqual(forced.body.commits.map((c) => c.id), [rewritten]);

  await push(s, ["--delete", "feature"]);
  const deleted = await next(6);
  t.like(deleted.body, { ref: "refs/heads/feature", before: rewritten, after: zeros, deleted: true, created: false, forced: false });
  t.deepEqual(deleted.body.commits, []);
  t.is(new Set(messages.map((m) => m.id)).size, 6, "every message has its own id");
  t.deepEqual(spoolFiles(s.spool), [], "nothing spooled while the bus was up");
});

test.serial("with the broker down the push succeeds with one warning line; spool flush delivers the message under its id", async (t) => {
  const down = await startTestBroker();
  const downUrl = down.url;
  await down.close();
  const prefix = uniquePrefix();
  const s = await server(downUrl, prefix);
  const head = await commit(s.work, s.env, "while the bus is down");
  const started = Date.now();
  const lines = await push(s, ["main"]);
  t.true(Date.now() - started < 10_000, "the push is not held up for long");
  t.is(lines.length, 1, lines.join("\n"));
  t.regex(lines[0] ?? "", /^deploykit: warning: the bus is unavailable .*1 message spooled as .*deploykit spool flush/);
  const [file] = spoolFiles(s.spool);
  t.truthy(file, "the message is in the spool");
  const path = join(s.spool, file as string);
  t.is(statSync(path).mode & 0o777, 0o600);
  t.is(statSync(s.spool).mode & 0o777, 0o700);
  const spooled = JSON.parse(readFileSync(path, "utf8")) as { topic: string; envelope: Commits };
  t.is(spooled.topic, "git.commits");
  t.like(spooled.envelope.body, { ref: "refs/heads/main", after: head, created: true });
  const remote = (await run("git", ["rev-parse", "main"], s.bare, s.env)).stdout.trim();
  t.is(remote, head, "the push itself went through");

  const listed = await deploykit(["spool", "list"], s.dir, s.env);
  t.is(listed.exitCode, 0);
  t.true(String(listed.stdout).includes(spooled.envelope.id));

  const { bus, messages } = await collect(broker.url, prefix);
  t.teardown(() => bus.close());
  const flushed = await deploykit(["spool", "flush", "--bus", broker.url], s.dir, s.env);
  t.is(flushed.exitCode, 0, String(flushed.stderr));
  t.regex(String(flushed.stderr), /delivered 1, 0 waiting/);
  await waitFor(() => messages.length === 1, 10_000, "the flushed message");
  const [delivered] = messages;
  t.is(delivered?.id, spooled.envelope.id, "delivered under the id it was spooled with");
  t.is(delivered?.correlationId, spooled.envelope.id);
  t.is(delivered?.time, spooled.envelope.time);
  t.is(delivered?.source.component, "git-hook", "and with its original source");
  t.deepEqual(delivered?.body, spooled.envelope.body);
  t.deepEqual(spoolFiles(s.spool), [], "a delivered file is removed");
});

test.serial("the push succeeds with one warning line when deploykit itself is missing or broken", async (t) => {
  const s = await server(broker.url, uniquePrefix(), { DEPLOYKIT_BIN: "/nonexistent/deploykit" });
  await commit(s.work, s.env, "no deploykit here");
  const missing = await push(s, ["main"]);
  t.deepEqual(missing, ["deploykit: warning: /nonexistent/deploykit not found (set DEPLOYKIT_BIN); this push was not reported"]);

  // A deploykit that fails with several lines of output: still one line, still a successful push.
  const broken = join(s.dir, "broken-deploykit");
  writeFileSync(broken, "#!/bin/sh\necho 'first line of trouble' >&2\necho 'second line' >&2\nexit 3\n", { mode: 0o755 });
  await commit(s.work, s.env, "broken deploykit");
  const lines = await push({ ...s, env: { ...s.env, DEPLOYKIT_BIN: broken } }, ["main"]);
  t.deepEqual(lines, ["first line of trouble"]);

  const silent = join(s.dir, "silent-deploykit");
  writeFileSync(silent, "#!/bin/sh\nexit 5\n", { mode: 0o755 });
  await commit(s.work, s.env, "silent deploykit");
  const quiet = await push({ ...s, env: { ...s.env, DEPLOYKIT_BIN: silent } }, ["main"]);
  t.is(quiet.length, 1);
  t.regex(quiet[0] ?? "", /exited with status 5/);
});

test.serial("branch names made of shell and option syntax stay inert and arrive verbatim", async (t) => {
  const prefix = uniquePrefix();
  const { bus, messages } = await collect(broker.url, prefix);
  t.teardown(() => bus.close());
  const s = await server(broker.url, prefix);
  const pwned = join(s.dir, "pwned");
  const refs = [
    `refs/heads/$(touch\${IFS}${pwned})`,
    `refs/heads/\`touch\${IFS}${pwned}\``,
    `refs/heads/--upload-pack=touch\${IFS}${pwned}`,
    `refs/heads/;touch\${IFS}${pwned};`,
  ];
  await commit(s.work, s.env, "innocent");
  for (const ref of refs) await run("git", ["check-ref-format", ref], s.work, s.env);
  const lines = await push(s, refs.map((ref) => `HEAD:${ref}`));
  t.deepEqual(lines, []);
  await waitFor(() => messages.length === refs.length, 15_000, "one message per ref");
  t.deepEqual(messages.map((m) => m.body.ref).sort(), [...refs].sort());
  t.false(existsSync(pwned), "no ref was run as a command");
  t.false(existsSync(join(s.bare, "x")) || existsSync(join(s.work, "x")));
});

test.serial("input lines with bad refs or ids are skipped with one warning line and never reach git", async (t) => {
  const prefix = uniquePrefix();
  const { bus, messages } = await collect(broker.url, prefix);
  t.teardown(() => bus.close());
  const s = await server(broker.url, prefix, { DEPLOYKIT_HOOKS_MAX_COMMITS: "3" });
  const ids: string[] = [];
  for (let i = 1; i <= 5; i++) ids.push(await commit(s.work, s.env, `commit ${i}`));
  // The commits must be in the bare repository, but the hook is fed by hand below.
  await run("git", ["push", "-q", "origin", "main"], s.work, { ...s.env, DEPLOYKIT_BIN: "/bin/true" });
  const head = ids[4] as string;
  const pwned = join(s.dir, "pwned");
  const input = [
    `${zeros} ${head} refs/heads/main`,
    `${zeros} ${head} --upload-pack=touch${pwned}`,
    `${zeros} ${head} refs/heads/a..b`,
    `${zeros} ${head} refs/heads/x.lock`,
    `--output=${pwned} ${head} refs/heads/main`,
    `${zeros} $(touch${pwned}) refs/heads/main`,
    "just garbage",
  ].join("\n");
  const result = await deploykit(["hook", "git-post-receive"], s.bare, s.env, { input: `${input}\n` });
  t.is(result.exitCode, 0, String(result.stderr));
  const lines = String(result.stderr).trim().split("\n");
  t.is(lines.length, 1, String(result.stderr));
  t.is(lines[0]?.match(/skipped/g)?.length, 6, lines[0]);
  t.regex(lines[0] ?? "", /--upload-pack=touch.*not a valid git ref/);
  await waitFor(() => messages.length === 1, 15_000, "the one valid update");
  const [message] = messages;
  t.is(message?.body.ref, "refs/heads/main");
  t.deepEqual(message?.body.commits.map((c) => c.id), ids.slice(2), "capped at hooks.maxCommits, the newest kept");
  t.is((message?.body as { commitsTruncated?: boolean } | undefined)?.commitsTruncated, true);
  t.false(existsSync(pwned));
});

test.serial("git config deploykit.repo and deploykit.url name the repository", async (t) => {
  const prefix = uniquePrefix();
  const { bus, messages } = await collect(broker.url, prefix);
  t.teardown(() => bus.close());
  const s = await server(broker.url, prefix);
  await run("git", ["config", "deploykit.repo", "Shop/Storefront"], s.bare, s.env);
  await run("git", ["config", "--add", "deploykit.url", "https://git.example.org/shop/storefront.git"], s.bare, s.env);
  await run("git", ["config", "--add", "deploykit.url", "git@git.example.org:shop/storefront.git"], s.bare, s.env);
  await commit(s.work, s.env, "named");
  await push(s, ["main"]);
  await waitFor(() => messages.length === 1, 15_000, "the message");
  t.deepEqual(messages[0]?.body.repo, {
    name: "shop/storefront",
    urls: ["https://git.example.org/shop/storefront.git", "git@git.example.org:shop/storefront.git"],
  });
});
