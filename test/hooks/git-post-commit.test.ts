import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import type { RunningBroker } from "../../daemons/broker/start-broker.ts";
import { startTestBroker } from "../helpers/embedded-broker.ts";
import { uniquePrefix, waitFor } from "../helpers/test-bus.ts";
import { type Commits, cleanEnv, collect, deploykit, run, spoolFiles, tempDir } from "./hook-fixture.ts";

// hooks/git/post-commit in a real work tree (a developer's, or a deploy
// host's repository): each commit becomes a git.commits.v1 message.

let broker: RunningBroker;
test.before(async () => {
  broker = await startTestBroker();
});
test.after.always(async () => {
  await broker?.close();
});

async function workTree(busUrl: string, prefix: string) {
  const dir = tempDir("dk-post-commit-");
  const work = join(dir, "repos", "deploy-host", "shop");
  const spool = join(dir, "spool");
  const env = cleanEnv(join(dir, "home"), {
    DEPLOYKIT_BUS_URL: busUrl,
    DEPLOYKIT_BUS_PREFIX: prefix,
    DEPLOYKIT_SPOOL_DIR: spool,
    DEPLOYKIT_HOOKS_REPO_ROOTS: join(dir, "repos"),
    DEPLOYKIT_HOOKS_PUBLISH_TIMEOUT: "1500ms",
  });
  await run("git", ["init", "-q", "-b", "main", work], dir, env);
  const installed = await deploykit(["hook", "install", "git-post-commit", work], dir, env);
  if (installed.exitCode !== 0) throw new Error(String(installed.stderr));
  const commit = async (message: string, args: string[] = []) => {
    writeFileSync(join(work, "file.txt"), `${message}\n`);
    await run("git", ["add", "file.txt"], work, env);
    const { stderr } = await run("git", ["commit", "-q", ...args, "-m", message], work, env);
    const sha = (await run("git", ["rev-parse", "HEAD"], work, env)).stdout.trim();
    return { sha, stderr };
  };
  return { dir, work, spool, env, commit };
}

test.serial("each commit arrives as one message: first, next, amended; a detached HEAD is only warned about", async (t) => {
  const prefix = uniquePrefix();
  const { bus, messages } = await collect(broker.url, prefix);
  t.teardown(() => bus.close());
  const w = await workTree(broker.url, prefix);
  const next = async (count: number): Promise<Commits> => {
    await waitFor(() => messages.length >= count, 15_000, `message ${count}`);
    return messages[count - 1] as Commits;
  };

  const first = await w.commit("first");
  t.is(first.stderr, "", "a commit that reached the bus prints nothing");
  const one = await next(1);
  t.like(one.body, {
    repo: { name: "deploy-host/shop" },
    ref: "refs/heads/main",
    before: "0".repeat(40),
    after: first.sha,
    created: true,
    forced: false,
    provider: "git-hook",
    pusher: { name: "Ada Lovelace", email: "ada@example.org" },
  });
  t.deepEqual(one.body.commits.map((c) => [c.id, c.message]), [[first.sha, "first"]]);

  const second = await w.commit("second");
  const two = await next(2);
  t.like(two.body, { before: first.sha, after: second.sha, created: false, forced: false });
  t.deepEqual(two.body.commits.map((c) => c.id), [second.sha]);

  const amended = await w.commit("second, amended", ["--amend"]);
  const three = await next(3);
  t.like(three.body, { before: second.sha, after: amended.sha, forced: true }, "an amend rewrites history, like a force push");

  await run("git", ["checkout", "-q", "--detach"], w.work, w.env);
  const detached = await w.commit("on no branch");
  t.regex(detached.stderr.trim(), /^deploykit: warning: HEAD is detached: a commit on no branch is not reported$/);
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.is(messages.length, 3, "nothing sent for a detached HEAD");
});

test.serial("with the broker down the commit succeeds with one warning line and the message is spooled", async (t) => {
  const down = await startTestBroker();
  const downUrl = down.url;
  await down.close();
  const prefix = uniquePrefix();
  const w = await workTree(downUrl, prefix);
  const made = await w.commit("offline");
  const lines = made.stderr.trim().split("\n");
  t.is(lines.length, 1, made.stderr);
  t.regex(lines[0] ?? "", /^deploykit: warning: the bus is unavailable .*1 message spooled as /);
  const [file] = spoolFiles(w.spool);
  const spooled = JSON.parse(readFileSync(join(w.spool, file as string), "utf8")) as { envelope: Commits };
  t.is(spooled.envelope.body.after, made.sha);

  // The next commit, with the bus back, delivers the spooled one first.
  const { bus, messages } = await collect(broker.url, prefix);
  t.teardown(() => bus.close());
  // The hook reads the bus URL from the environment; point it at the live broker for this commit.
  const env = { ...w.env, DEPLOYKIT_BUS_URL: broker.url };
  writeFileSync(join(w.work, "file.txt"), "more\n");
  await run("git", ["commit", "-q", "-am", "back online"], w.work, env);
  await waitFor(() => messages.length === 2, 15_000, "the spooled message and the new one");
  t.is(messages[0]?.id, spooled.envelope.id, "the spooled message first, under its id");
  t.is(messages[1]?.body.commits[0]?.message, "back online");
  t.deepEqual(spoolFiles(w.spool), []);
});
