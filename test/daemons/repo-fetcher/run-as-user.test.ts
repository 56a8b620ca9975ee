import { chmodSync, chownSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import test from "ava";
import { execa } from "execa";
import { SourceRepo, mirrorRefs, startFetcher, tempDir } from "./fetcher-fixture.ts";

// A repository entry's `user` owns the mirror, and git runs as that user.
// Switching users needs root: these tests run as root where they can, and
// check the refusal from a process that is not root.

const isRoot = process.getuid?.() === 0;
const asRoot = isRoot ? test : test.skip;
const nobody = { name: "nobody", uid: 65534, gid: 65534 };
const root = new URL("../../../../", import.meta.url).pathname;

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await execa("chown", ["-R", `${uid}:${gid}`, "--", path]);
}

asRoot("as root, git runs as the entry's user and the mirror belongs to that user", async (t) => {
  const source = await SourceRepo.create(t);
  const sha = await source.commit();
  // git refuses a repository owned by someone else, as it would on a real server.
  await chownTree(source.dir, nobody.uid, nobody.gid);
  chmodSync(dirname(source.dir), 0o755);
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/web", url: source.url, user: nobody.name }] });
  chmodSync(fetcher.dir, 0o755);
  const answer = await fetcher.answerFor(await fetcher.build({ sha }));
  t.is(answer.body.error, undefined);
  const mirror = join(fetcher.mirrorDir, "acme/web.git");
  for (const path of [mirror, join(mirror, "HEAD"), join(mirror, "config"), join(mirror, "refs/heads/main")]) {
    t.is(statSync(path).uid, nobody.uid, path);
  }
  t.is((await mirrorRefs(mirror))["refs/heads/main"], sha);
  t.is(statSync(join(fetcher.mirrorDir, "acme")).uid, 0, "directories above the mirror stay the daemon's");
});

asRoot("as root, git running as the entry's user is refused a source that user may not read, and the error is published", async (t) => {
  const source = await SourceRepo.create(t);
  const sha = await source.commit();
  chmodSync(dirname(source.dir), 0o755);
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/web", url: source.url, user: nobody.name }] });
  chmodSync(fetcher.dir, 0o755);
  // The source belongs to root: git running as nobody refuses to read it.
  const answer = await fetcher.answerFor(await fetcher.build({ sha }));
  t.regex(answer.body.error ?? "", /git fetch failed \(exit 128\): fatal: detected dubious ownership in repository/, "as root, git would have read it");
});

test("a user that does not exist on this host is refused at start", async (t) => {
  const error = await t.throwsAsync(startFetcher(t, { repos: [{ name: "acme/web", url: "/srv/git/web.git", user: "no-such-user-dk" }] }));
  t.regex(error?.message ?? "", /repository acme\/web in .*repos\.yaml: user "no-such-user-dk" does not exist on this host/);
});

test("the daemon's own user needs no switching, root or not", async (t) => {
  const source = await SourceRepo.create(t);
  const sha = await source.commit();
  const me = (await execa("id", ["-un"])).stdout;
  const fetcher = await startFetcher(t, { repos: [{ name: "acme/web", url: source.url, user: me }] });
  t.is((await fetcher.answerFor(await fetcher.build({ sha }))).body.error, undefined);
});

test("a daemon that is not root refuses, at start, an entry whose git must run as another user", async (t) => {
  const dir = tempDir(t);
  chmodSync(dir, 0o755);
  const reposFile = join(dir, "repos.yaml");
  writeFileSync(reposFile, "repos:\n  - {name: acme/web, url: /srv/git/web.git, user: root}\n");
  const script = join(dir, "start.mjs");
  writeFileSync(
    script,
    `import { repoFetcher } from ${JSON.stringify(join(root, "dist/daemons/repo-fetcher/index.js"))};
import { testBus, silent } from ${JSON.stringify(join(root, "dist/test/helpers/test-bus.js"))};
const bus = testBus("memory://not-root", "dk");
const config = { reposFile: ${JSON.stringify(reposFile)}, mirrorDir: ${JSON.stringify(join(dir, "m"))}, interval: 0, fetchTimeout: 5000, concurrency: 1 };
try {
  await repoFetcher.start({ config, bus, log: silent, host: "h", signal: new AbortController().signal, announce() {} });
  process.stdout.write("started");
} catch (err) {
  process.stdout.write(err.message);
}
await bus.close();
`,
  );
  if (isRoot) chownSync(script, nobody.uid, nobody.gid);
  const result = await execa(process.execPath, [script], { ...(isRoot ? { uid: nobody.uid, gid: nobody.gid } : {}), cwd: dir, timeout: 20_000 });
  t.regex(
    result.stdout,
    /repository acme\/web in .*repos\.yaml: git should run as "root", but repo-fetcher runs as "\S+" and only root can run git as another user: run repo-fetcher as root/,
  );
});
