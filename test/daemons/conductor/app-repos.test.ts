import { existsSync } from "node:fs";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { execa } from "execa";
import type { ConductorApp } from "../../../daemons/conductor/app-catalog.ts";
import { AppRepos, InvalidRefError, compareVersions } from "../../../daemons/conductor/app-repos.ts";
import { captureLog } from "../../helpers/capture-log.ts";
import { gitEnv } from "../../helpers/git-env.ts";
import { tempDir } from "../../helpers/temp-dir.ts";

// Real git: a bare repository stands in for the app's git server, and the
// conductor's mirror of it is made and fetched as in production.

async function git(gitDir: string, args: string[]): Promise<string> {
  return (await execa("git", args, { env: { ...gitEnv, GIT_DIR: gitDir } })).stdout;
}

class Source {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  static async create(t: ExecutionContext): Promise<Source> {
    const dir = join(tempDir(t, "dk-src-"), "shop.git");
    await execa("git", ["init", "--bare", "--quiet", "--initial-branch=main", dir], { env: gitEnv });
    return new Source(dir);
  }

  async commit(branch = "main"): Promise<string> {
    const ref = `refs/heads/${branch}`;
    const tree = await git(this.dir, ["hash-object", "-t", "tree", "-w", "/dev/null"]);
    const parent = await git(this.dir, ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]).catch(() => undefined);
    const sha = await git(this.dir, ["commit-tree", tree, ...(parent ? ["-p", parent] : []), "-m", `change on ${branch} ${Math.random()}`]);
    await git(this.dir, ["update-ref", ref, sha]);
    return sha;
  }

  async lightweightTag(name: string, target: string): Promise<void> {
    await git(this.dir, ["tag", name, target]);
  }

  /** Returns the tag object's id, which is not the commit's. */
  async annotatedTag(name: string, target: string): Promise<string> {
    await git(this.dir, ["tag", "-a", "-m", name, name, target]);
    return git(this.dir, ["rev-parse", `refs/tags/${name}`]);
  }
}

function setUp(t: ExecutionContext, source: Source) {
  const mirrorDir = join(tempDir(t, "dk-mirrors-"), "mirrors");
  const controller = new AbortController();
  t.teardown(() => controller.abort());
  const { log, lines } = captureLog();
  const repos = new AppRepos({ mirrorDir, fetchTimeout: 60_000, signal: controller.signal, log });
  const app: ConductorApp = { app: "shop", file: "/etc/deploykit/conductor/apps.d/shop.yaml", url: `file://${source.dir}`, repo: "acme/shop", environments: [] };
  const gitRuns = () => lines.filter((line) => line.msg === "mirror created" || line.msg === "mirror fetched").length;
  return { repos, app, mirror: join(mirrorDir, "shop.git"), gitRuns };
}

test("refs: tags newest version first, annotated tags peeled to their commit, then branches by name", async (t) => {
  const source = await Source.create(t);
  const first = await source.commit();
  const second = await source.commit();
  const third = await source.commit();
  const feature = await source.commit("feature/checkout");
  const release = await source.commit("release");
  await source.lightweightTag("v1.9.0", first);
  const tagObject = await source.annotatedTag("v1.10.0", second);
  await source.annotatedTag("v2.0.0-rc1", second);
  await source.lightweightTag("v2.0.0", third);
  await source.lightweightTag("v1.2.0", first);
  // A tag of a tree names nothing deployable.
  await source.lightweightTag("tree-tag", await git(source.dir, ["hash-object", "-t", "tree", "-w", "/dev/null"]));
  const { repos, app, mirror } = setUp(t, source);

  const refs = await repos.refs(app);
  t.true(existsSync(mirror), "the first call made the mirror");
  t.deepEqual(refs, [
    { name: "v2.0.0", kind: "tag", sha: third },
    { name: "v2.0.0-rc1", kind: "tag", sha: second },
    { name: "v1.10.0", kind: "tag", sha: second },
    { name: "v1.9.0", kind: "tag", sha: first },
    { name: "v1.2.0", kind: "tag", sha: first },
    { name: "feature/checkout", kind: "branch", sha: feature },
    { name: "main", kind: "branch", sha: third },
    { name: "release", kind: "branch", sha: release },
  ]);
  t.not(tagObject, second, "the annotated tag's own id is not what refs gives");
});

test("version order: numbers as numbers, a -suffix is a pre-release", (t) => {
  const sorted = ["v1.9.0", "v1.10.0", "v1.10.0-rc2", "v1.10.0-rc10", "v1.2.0", "v10.0.0", "release-2", "release-10"].sort((a, b) => compareVersions(b, a));
  t.deepEqual(sorted, ["v10.0.0", "v1.10.0", "v1.10.0-rc10", "v1.10.0-rc2", "v1.9.0", "v1.2.0", "release-10", "release-2"]);
  t.is(compareVersions("v1.0", "v1.0"), 0);
});

test("resolve: a tag, a branch, a full sha; a tag wins over a branch of the same name", async (t) => {
  const source = await Source.create(t);
  const first = await source.commit();
  const second = await source.commit();
  const onBranch = await source.commit("v3");
  await source.annotatedTag("v1.0.0", first);
  await source.lightweightTag("v3", second);
  const { repos, app } = setUp(t, source);

  t.deepEqual(await repos.resolve(app, "v1.0.0"), { ref: "v1.0.0", kind: "tag", sha: first });
  t.deepEqual(await repos.resolve(app, "main"), { ref: "main", kind: "branch", sha: second });
  t.deepEqual(await repos.resolve(app, "v3"), { ref: "v3", kind: "tag", sha: second }, `not the branch v3 at ${onBranch}`);
  t.deepEqual(await repos.resolve(app, first), { ref: first, kind: "sha", sha: first });
});

test("resolve: unknown refs, abbreviated shas and tag object ids are undefined", async (t) => {
  const source = await Source.create(t);
  const commit = await source.commit();
  const tagObject = await source.annotatedTag("v1.0.0", commit);
  const { repos, app } = setUp(t, source);

  t.is(await repos.resolve(app, "v9.9.9"), undefined);
  t.is(await repos.resolve(app, commit.slice(0, 12)), undefined, "git would guess at an abbreviation; the conductor does not");
  t.is(await repos.resolve(app, "0".repeat(40)), undefined);
  t.is(await repos.resolve(app, tagObject), undefined, "a tag object is no commit");
  t.is(await repos.resolve(app, "HEAD"), undefined);
});

test("resolve: a ref pushed after the mirror was made is fetched for, once", async (t) => {
  const source = await Source.create(t);
  await source.commit();
  const { repos, app, gitRuns } = setUp(t, source);
  await repos.ensure(app);
  t.is(gitRuns(), 1);

  const later = await source.commit();
  await source.lightweightTag("v2.0.0", later);
  const hotfix = await source.commit("hotfix");
  t.deepEqual(await repos.resolve(app, "v2.0.0"), { ref: "v2.0.0", kind: "tag", sha: later });
  t.is(gitRuns(), 2, "one fetch for the miss");
  t.deepEqual(await repos.resolve(app, "hotfix"), { ref: "hotfix", kind: "branch", sha: hotfix }, "the same fetch brought the branch");
  t.deepEqual(await repos.resolve(app, later), { ref: later, kind: "sha", sha: later });
  t.is(gitRuns(), 2, "what the mirror has is not fetched again");
  t.is(await repos.resolve(app, "v2.0.1"), undefined);
  t.is(gitRuns(), 3, "a miss fetches once, then answers");
});

test("fetch: concurrent callers share one git fetch; ensure leaves an existing mirror alone", async (t) => {
  const source = await Source.create(t);
  await source.commit();
  const { repos, app, gitRuns } = setUp(t, source);
  await Promise.all([repos.ensure(app), repos.ensure(app), repos.fetch(app)]);
  t.is(gitRuns(), 1, "one clone for three callers");
  await repos.ensure(app);
  t.is(gitRuns(), 1);

  const first = repos.fetch(app);
  const second = repos.fetch(app);
  t.is(first, second, "the second caller waits for the fetch in flight");
  await Promise.all([first, second, repos.ensure(app)]);
  t.is(gitRuns(), 2);
  await repos.fetch(app);
  t.is(gitRuns(), 3, "a fetch after the last one finished runs again");
});

test("a failed fetch reaches every waiting caller, and the next call tries again", async (t) => {
  const source = await Source.create(t);
  await source.commit();
  const { repos, app, mirror } = setUp(t, source);
  const broken = { ...app, url: `file://${source.dir}-missing` };
  const results = await Promise.allSettled([repos.fetch(broken), repos.fetch(broken), repos.ensure(broken)]);
  t.deepEqual(
    results.map((result) => result.status),
    ["rejected", "rejected", "rejected"],
  );
  t.false(existsSync(mirror), "no half-made mirror");
  await repos.ensure(app);
  t.true(existsSync(mirror));
});

test("refs built to inject are refused before git runs, and nothing executes", async (t) => {
  const source = await Source.create(t);
  await source.commit();
  const { repos, app, mirror } = setUp(t, source);
  const marker = join(tempDir(t, "dk-inject-"), "pwned");
  const refused = [
    `--upload-pack=touch ${marker}`,
    "-x",
    `$(touch ${marker})`,
    `\`touch ${marker}\``,
    "a..b",
    "HEAD@{1}",
    "main^{tree}",
    "main~1",
    "v1:path",
    "tags/*",
    "main\n--upload-pack=x",
    "refs/heads/main.lock",
    "",
  ];
  for (const ref of refused) {
    const error = await t.throwsAsync(repos.resolve(app, ref), { instanceOf: InvalidRefError }, JSON.stringify(ref));
    t.is(error?.ref, ref);
  }
  t.false(existsSync(mirror), "no git ran: the mirror was not even made");
  t.false(existsSync(marker));

  // Valid as a ref name, so it reaches git, on stdin, where a shell never sees it.
  t.is(await repos.resolve(app, `$(touch\${IFS}${marker})`), undefined);
  t.is(await repos.resolve(app, `;touch\${IFS}${marker};`), undefined);
  t.true(existsSync(mirror));
  t.false(existsSync(marker));
});

test("an empty mirror directory is refused, not taken as the working directory", (t) => {
  const { log } = captureLog();
  const error = t.throws(() => new AppRepos({ mirrorDir: "", fetchTimeout: 1000, signal: new AbortController().signal, log }));
  t.regex(error?.message ?? "", /conductor\.mirrorDir/);
});
