import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import type { RunningBroker } from "../../daemons/broker/start-broker.ts";
import { svnDate, svnRefs } from "../../cli/hooks/svn-commit-bodies.ts";
import { startTestBroker } from "../helpers/embedded-broker.ts";
import { uniquePrefix, waitFor } from "../helpers/test-bus.ts";
import { type Commits, bin, cleanEnv, collect, deploykit, run, spoolFiles, tempDir } from "./hook-fixture.ts";

// hooks/svn/post-commit on a real Subversion repository (svnadmin, svn,
// svnlook; .ci/run installs them). svn runs hooks with an empty environment,
// so the test configures the hook the way an operator would: conf/hooks-env.

let broker: RunningBroker;
test.before(async () => {
  broker = await startTestBroker();
});
test.after.always(async () => {
  await broker?.close();
});

async function repository(busUrl: string, prefix: string) {
  const dir = tempDir("dk-svn-");
  const repos = join(dir, "svn", "Shop");
  const url = `file://${repos}`;
  const spool = join(dir, "spool");
  const env = cleanEnv(join(dir, "home"), { LC_ALL: "C.UTF-8" });
  mkdirSync(join(dir, "svn"));
  await run("svnadmin", ["create", repos], dir, env);
  const installed = await deploykit(["hook", "install", "svn-post-commit", repos], dir, env);
  if (installed.exitCode !== 0) throw new Error(String(installed.stderr));
  const hookEnv = {
    DEPLOYKIT_BIN: bin,
    DEPLOYKIT_CONFIG: "",
    DEPLOYKIT_BUS_URL: busUrl,
    DEPLOYKIT_BUS_PREFIX: prefix,
    DEPLOYKIT_SPOOL_DIR: spool,
    DEPLOYKIT_HOOKS_REPO_ROOTS: join(dir, "svn"),
    DEPLOYKIT_HOOKS_PUBLISH_TIMEOUT: "1500ms",
  };
  writeFileSync(join(repos, "conf", "hooks-env"), `[default]\n${Object.entries(hookEnv).map(([k, v]) => `${k} = ${v}`).join("\n")}\n`);
  const svn = (args: string[]) => run("svn", ["--non-interactive", "--username", "alice", ...args], dir, env);
  return { dir, repos, url, spool, env, svn };
}

test.serial("commits to trunk, a new branch, a tag and a deleted branch arrive as git.commits.v1 with svn revisions", async (t) => {
  const prefix = uniquePrefix();
  const { bus, messages } = await collect(broker.url, prefix);
  t.teardown(() => bus.close());
  const r = await repository(broker.url, prefix);
  const next = async (count: number): Promise<Commits> => {
    await waitFor(() => messages.length >= count, 15_000, `message ${count}`);
    return messages[count - 1] as Commits;
  };

  const tree = join(r.dir, "tree");
  for (const folder of ["trunk", "branches", "tags"]) mkdirSync(join(tree, folder), { recursive: true });
  writeFileSync(join(tree, "trunk", "README"), "hello\n");
  const imported = await r.svn(["import", "-m", "initial import", tree, r.url]);
  t.is(imported.stderr, "");
  const first = await next(1);
  t.is(first.source.component, "svn-hook");
  t.like(first.body, {
    repo: { name: "shop", urls: [] },
    ref: "refs/heads/trunk",
    before: "r0",
    after: "r1",
    created: true,
    deleted: false,
    forced: false,
    provider: "svn-hook",
    pusher: { name: "alice" },
  });
  t.like(first.body.commits[0], { id: "r1", message: "initial import", author: { name: "alice" } });
  t.false(Number.isNaN(Date.parse(first.body.commits[0]?.timestamp ?? "")));

  const checkout = join(r.dir, "checkout");
  await r.svn(["checkout", "-q", `${r.url}/trunk`, checkout]);
  writeFileSync(join(checkout, "README"), "hello again\n");
  await r.svn(["commit", "-q", "-m", "café: a change\n\nwith a body", checkout]);
  const second = await next(2);
  t.like(second.body, { ref: "refs/heads/trunk", before: "r1", after: "r2", created: false });
  t.is(second.body.commits[0]?.message, "café: a change\n\nwith a body", "non-ASCII survives svn's empty environment");

  await r.svn(["copy", "-m", "branch for the release", `${r.url}/trunk`, `${r.url}/branches/release-1`]);
  const branch = await next(3);
  t.like(branch.body, { ref: "refs/heads/release-1", before: "r2", after: "r3", created: true });

  await r.svn(["copy", "-m", "tag it", `${r.url}/branches/release-1`, `${r.url}/tags/v1.0`]);
  const tag = await next(4);
  t.like(tag.body, { ref: "refs/tags/v1.0", after: "r4", created: true });

  await r.svn(["delete", "-m", "done with it", `${r.url}/branches/release-1`]);
  const deleted = await next(5);
  t.like(deleted.body, { ref: "refs/heads/release-1", after: "r5", deleted: true, created: false });
  t.deepEqual(spoolFiles(r.spool), []);
});

test.serial("a branch name that is no valid git ref is skipped with a warning; one that looks like a command stays inert", async (t) => {
  const prefix = uniquePrefix();
  const { bus, messages } = await collect(broker.url, prefix);
  t.teardown(() => bus.close());
  const r = await repository(broker.url, prefix);
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell syntax, on purpose
  const shell = "$(touch${IFS}pwned)";
  await r.svn(["mkdir", "-q", "-m", "layout", `${r.url}/trunk`, `${r.url}/branches`]);
  await r.svn(["copy", "-q", "-m", "spaces", `${r.url}/trunk`, `${r.url}/branches/my feature`]);
  await r.svn(["copy", "-q", "-m", "shell", `${r.url}/trunk`, `${r.url}/branches/${shell}`]);
  await waitFor(() => messages.length === 2, 15_000, "trunk and the inert branch");
  t.deepEqual(messages.map((m) => [m.body.ref, m.body.after]), [
    ["refs/heads/trunk", "r1"],
    [`refs/heads/${shell}`, "r3"],
  ]);
  // What svn does not show (a post-commit hook's output when it exits 0), the command shows when run by hand.
  const env = { ...r.env, DEPLOYKIT_BUS_URL: broker.url, DEPLOYKIT_BUS_PREFIX: prefix, DEPLOYKIT_SPOOL_DIR: r.spool };
  const result = await deploykit(["hook", "svn-post-commit", r.repos, "2"], r.dir, env);
  t.is(result.exitCode, 0);
  t.is(String(result.stderr).trim(), 'deploykit: warning: skipped ref "refs/heads/my feature": not a valid git ref');
  for (const where of [r.dir, r.repos, join(r.repos, "hooks"), process.cwd()]) t.false(existsSync(join(where, "pwned")), where);
  const refused = await deploykit(["hook", "svn-post-commit", r.repos, "1;touch pwned"], r.dir, env);
  t.is(refused.exitCode, 64);
  t.regex(String(refused.stderr), /revision "1;touch pwned" is not a revision number/);
});

test.serial("with the broker down the commit succeeds and the message is spooled", async (t) => {
  const down = await startTestBroker();
  const downUrl = down.url;
  await down.close();
  const r = await repository(downUrl, uniquePrefix());
  const committed = await r.svn(["mkdir", "-m", "offline", `${r.url}/trunk`]);
  t.regex(committed.stdout, /Committed revision 1/);
  t.false(committed.stderr.includes("post-commit"), "svn saw the hook succeed");
  const [file] = spoolFiles(r.spool);
  t.truthy(file);
  const spooled = JSON.parse(readFileSync(join(r.spool, file as string), "utf8")) as { envelope: Commits };
  t.like(spooled.envelope.body, { ref: "refs/heads/trunk", after: "r1", provider: "svn-hook" });
});

test("the ref rule: trunk, branches/NAME and tags/NAME wherever they sit; anything else is trunk", (t) => {
  const refs = (changed: string) => Object.fromEntries(svnRefs(changed));
  t.deepEqual(refs("U   trunk/src/a.c\nU   trunk/b.c\n"), { "refs/heads/trunk": { created: false, deleted: false } });
  t.deepEqual(refs("A   branches/x/\nA   branches/x/a.c\n"), { "refs/heads/x": { created: true, deleted: false } });
  t.deepEqual(refs("D   tags/v1/\n"), { "refs/tags/v1": { created: false, deleted: true } });
  t.deepEqual(refs("U   shop/branches/fix/src/a.c\n_U  shop/trunk/\n"), {
    "refs/heads/fix": { created: false, deleted: false },
    "refs/heads/trunk": { created: false, deleted: false },
  });
  t.deepEqual(refs("A   branches/\nA   tags/\n"), { "refs/heads/trunk": { created: false, deleted: false } }, "bare containers count for nothing");
  t.deepEqual(refs("U   README\n"), { "refs/heads/trunk": { created: false, deleted: false } });
  t.is(svnDate("2024-05-01 12:34:56 +0200 (Wed, 01 May 2024)"), "2024-05-01T12:34:56+02:00");
  t.is(svnDate("yesterday"), undefined);
});
