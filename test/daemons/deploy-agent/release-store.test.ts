import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import test, { type ExecutionContext } from "ava";
import { compareReleaseIds, currentTarget, isReleaseId, type ReleaseMeta, ReleaseStore, ReleaseStoreError } from "../../../daemons/deploy-agent/release-store.ts";

function tempRoot(t: ExecutionContext): string {
  const root = mkdtempSync(join(tmpdir(), "dk-releases-"));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

function newStore(t: ExecutionContext): ReleaseStore {
  return new ReleaseStore(join(tempRoot(t), "web"));
}

const sha = (seed: string) => seed.repeat(40).slice(0, 40);

/** A complete release with one file naming its id. */
function release(store: ReleaseStore, hex: string, now?: Date, extra: Partial<ReleaseMeta> = {}): string {
  const id = store.newId(hex, now);
  const dir = store.begin(id);
  writeFileSync(join(dir, "index.html"), `${id}\n`);
  store.commit({ id, deployId: `deploy-${id}`, sha: hex, createdAt: (now ?? new Date()).toISOString(), ...extra });
  return id;
}

function releaseEntries(store: ReleaseStore): string[] {
  return readdirSync(join(store.appDir, "releases")).sort();
}

test("newId names a release after time and hex, unique among complete, partial and metadata-only releases", (t) => {
  const store = newStore(t);
  const now = new Date("2024-01-02T03:04:05.678Z");
  const first = store.newId("ABCDEF0123456789abcdef0123456789abcdef01", now);
  t.is(first, "20240102T030405Z-abcdef012345");
  t.true(isReleaseId(first));
  t.is(store.newId("abcdef0123456789", now), first, "nothing exists yet: the same inputs give the same id");

  store.begin(first);
  t.is(store.newId("abcdef012345", now), `${first}-2`, "a partial release takes its id");
  const second = `${first}-2`;
  mkdirSync(join(store.appDir, "releases"), { recursive: true });
  writeFileSync(join(store.appDir, "releases", `${second}.json`), "{}");
  t.is(store.newId("abcdef012345", now), `${first}-3`, "a metadata file alone takes its id");
  t.is(store.newId("0123456789abcdef", now), "20240102T030405Z-0123456789ab-3", "another hex in the same second still sorts after the earlier ones");
  t.is(store.newId("abcdef012345", new Date("2024-01-02T03:04:06Z")), "20240102T030406Z-abcdef012345", "the next second starts again without suffix");

  t.true(isReleaseId(store.newId(undefined, now)), "without a sha the hex is random");
  for (const bad of ["", "abc", "zzzzzzzzzzzzzz", "../../etc/passwd"]) {
    t.throws(() => store.newId(bad, now), { instanceOf: ReleaseStoreError }, bad);
  }
});

test("ids made one after another sort in the order they were made, also past -9", (t) => {
  const store = newStore(t);
  const made: string[] = [];
  const seconds = ["2024-05-01T00:00:59Z", "2024-05-01T00:01:00Z", "2024-05-01T00:01:00Z", "2024-12-31T23:59:59Z"];
  for (const [i, time] of seconds.entries()) made.push(release(store, sha(String(i)), new Date(time)));
  for (let i = 0; i < 11; i++) made.push(release(store, sha("abcdef0123456789"[i] as string), new Date("2025-01-01T00:00:00Z")));
  t.deepEqual(made.slice(-3), ["20250101T000000Z-222222222222-9", "20250101T000000Z-333333333333-10", "20250101T000000Z-444444444444-11"]);
  t.deepEqual([...made].reverse().sort(compareReleaseIds), made);
  t.deepEqual(
    store.list().map((meta) => meta.id),
    made,
  );
  t.is(new Set(made).size, made.length);
});

test("begin, commit and switchTo make a relative current link; list, current and previous follow it", (t) => {
  const store = newStore(t);
  t.is(store.currentId(), null);
  t.is(store.current(), null);
  t.is(store.previous(), null);
  t.deepEqual(store.list(), []);

  const a = store.newId(sha("a"), new Date("2024-01-01T00:00:00Z"));
  const partial = store.begin(a);
  t.is(partial, join(store.appDir, "releases", `${a}.partial`));
  t.throws(() => store.begin(a), { instanceOf: ReleaseStoreError, message: /already exists/ });
  writeFileSync(join(partial, "index.html"), "a\n");
  t.deepEqual(store.list(), [], "a partial release is not listed");
  const metaA: ReleaseMeta = { id: a, deployId: "d-1", ref: "refs/tags/v1", sha: sha("a"), createdAt: "2024-01-01T00:00:00.000Z" };
  t.is(store.commit(metaA), store.path(a));
  t.false(existsSync(partial));
  t.throws(() => store.begin(a), { instanceOf: ReleaseStoreError, message: /already exists/ });
  t.throws(() => store.commit(metaA), { instanceOf: ReleaseStoreError });
  t.deepEqual(store.meta(a), metaA);

  t.deepEqual(store.switchTo(a), { previous: null });
  t.is(currentTarget(store.appDir), `releases/${a}`);
  t.is(readFileSync(join(store.appDir, "current", "index.html"), "utf8"), "a\n");

  const b = release(store, sha("b"), new Date("2024-01-02T00:00:00Z"), { artifact: { url: "https://example.com/b.tgz", sha256: "b".repeat(64) } });
  t.is(store.currentId(), a, "commit does not switch");
  t.deepEqual(store.switchTo(b), { previous: a });
  t.is(currentTarget(store.appDir), `releases/${b}`);
  t.is(store.currentId(), b);
  t.deepEqual(store.current()?.artifact, { url: "https://example.com/b.tgz", sha256: "b".repeat(64) });
  t.deepEqual(store.previous(), metaA);
  t.deepEqual(
    store.list().map((meta) => meta.id),
    [a, b],
  );
  t.deepEqual(store.switchTo(a), { previous: b }, "a rollback is a switch back");
  t.is(store.previous(), null, "nothing is older than the oldest");
  t.deepEqual(
    readdirSync(store.appDir).filter((name) => name.startsWith("current")),
    ["current"],
    "no temporary link is left behind",
  );
});

test("commit refuses metadata without begin() or with missing fields", (t) => {
  const store = newStore(t);
  const id = store.newId(sha("c"));
  t.throws(() => store.commit({ id, deployId: "d", createdAt: new Date().toISOString() }), { instanceOf: ReleaseStoreError, message: /begin\(\)/ });
  store.begin(id);
  t.throws(() => store.commit({ id, createdAt: "x" } as unknown as ReleaseMeta), { instanceOf: ReleaseStoreError, message: /deployId/ });
  t.false(existsSync(join(store.appDir, "releases", `${id}.json`)));
  t.true(existsSync(join(store.appDir, "releases", `${id}.partial`)));
});

test("previous skips failed releases, and markFailed rewrites the metadata", (t) => {
  const store = newStore(t);
  const [a, b, c] = ["1", "2", "3"].map((n) => release(store, sha(n), new Date(`2024-0${n}-01T00:00:00Z`))) as [string, string, string];
  store.switchTo(c);
  t.is(store.previous()?.id, b);
  store.markFailed(b, "verify", "health check returned 503");
  const failed = store.meta(b)?.failed;
  t.is(failed?.step, "verify");
  t.is(failed?.reason, "health check returned 503");
  t.false(Number.isNaN(Date.parse(failed?.at ?? "")));
  t.is(store.previous()?.id, a);
  store.markFailed(a, "restart", "exit 1");
  t.is(store.previous(), null, "every older release failed");
  t.is(store.list().length, 3, "failed releases stay complete");
  t.throws(() => store.markFailed("20240101T000000Z-000000000000", "x", "y"), { instanceOf: ReleaseStoreError });
});

test("prune keeps N, removes failed ones first, never current", (t) => {
  const store = newStore(t);
  const ids = ["1", "2", "3", "4", "5", "6"].map((n) => release(store, sha(n), new Date(`2024-0${n}-01T00:00:00Z`)));
  const [r1, r2, r3, r4, r5, r6] = ids as [string, string, string, string, string, string];
  store.switchTo(r2);
  store.markFailed(r5, "verify", "503");
  store.markFailed(r4, "verify", "503");
  t.deepEqual(store.prune(4), [r4, r5], "failed ones go first, oldest first");
  t.deepEqual(store.prune(4), [], "already at 4");
  t.deepEqual(store.prune(2), [r1, r3], "then the oldest, skipping current");
  t.deepEqual(
    store.list().map((meta) => meta.id),
    [r2, r6],
  );
  t.deepEqual(store.prune(1), [r6]);
  t.is(store.currentId(), r2);
  t.is(readFileSync(join(store.appDir, "current", "index.html"), "utf8"), `${r2}\n`);
  t.deepEqual(releaseEntries(store), [r2, `${r2}.json`], "trees and metadata are gone, nothing half-removed stays");
  for (const keep of [0, -1, 1.5, Number.NaN]) t.throws(() => store.prune(keep), { instanceOf: ReleaseStoreError });
});

test("switchTo refuses unknown, partial, metadata-less and malformed ids and leaves current alone", (t) => {
  const store = newStore(t);
  const good = release(store, sha("a"));
  store.switchTo(good);
  const partial = store.newId(sha("b"));
  store.begin(partial);
  const bare = "20240101T000000Z-cccccccccccc";
  mkdirSync(join(store.appDir, "releases", bare));
  for (const id of ["20240101T000000Z-000000000000", partial, bare]) {
    t.throws(() => store.switchTo(id), { instanceOf: ReleaseStoreError, message: /not a complete release/ }, id);
  }
  for (const id of ["../x", "a/b", "..", ".", "", `${good}/..`, `${good}.partial`, `../${good}`, `${good}\n`]) {
    t.false(isReleaseId(id), id);
    t.throws(() => store.switchTo(id), { instanceOf: ReleaseStoreError, message: /not valid/ }, id);
    t.throws(() => store.begin(id), { instanceOf: ReleaseStoreError }, id);
    t.throws(() => store.meta(id), { instanceOf: ReleaseStoreError }, id);
    t.throws(() => store.abandon(id), { instanceOf: ReleaseStoreError }, id);
    t.throws(() => store.path(id), { instanceOf: ReleaseStoreError }, id);
  }
  t.is(currentTarget(store.appDir), `releases/${good}`);
  t.false(existsSync(join(store.appDir, "x")));
});

test("switchTo over a current that is a real directory says what to do and leaves no temporary link", (t) => {
  const store = newStore(t);
  const id = release(store, sha("a"));
  mkdirSync(join(store.appDir, "current", "app"), { recursive: true });
  t.throws(() => store.switchTo(id), { instanceOf: ReleaseStoreError, message: /is a directory, not a symlink: move it away/ });
  t.deepEqual(readdirSync(store.appDir).sort(), ["current", "releases"]);
});

test("currentId is null when current points at something that is not a complete release", (t) => {
  const store = newStore(t);
  const id = release(store, sha("a"));
  store.switchTo(id);
  rmSync(join(store.appDir, "releases", `${id}.json`));
  t.is(store.currentId(), null);
  t.is(store.current(), null);
  rmSync(join(store.appDir, "current"));
  symlinkSync("/tmp", join(store.appDir, "current"));
  t.is(store.currentId(), null);
});

test("abandon removes the partial, the tree and the metadata, keeps the current release, and is idempotent", (t) => {
  const store = newStore(t);
  const live = release(store, sha("a"), new Date("2024-01-01T00:00:00Z"));
  store.switchTo(live);
  const half = store.newId(sha("b"));
  writeFileSync(join(store.begin(half), "x"), "x");
  const done = release(store, sha("c"));
  store.abandon(half);
  store.abandon(done);
  store.abandon(done);
  store.abandon(live);
  t.deepEqual(releaseEntries(store), [live, `${live}.json`]);
  t.is(store.currentId(), live);
});

test("recover removes partial trees, orphan metadata, trees without metadata and stray links, and leaves current intact", (t) => {
  const store = newStore(t);
  const releases = join(store.appDir, "releases");
  const live = release(store, sha("a"), new Date("2024-01-01T00:00:00Z"));
  const older = release(store, sha("b"), new Date("2023-01-01T00:00:00Z"));
  store.switchTo(live);
  const partial = "20240301T000000Z-dddddddddddd.partial";
  mkdirSync(join(releases, partial, "deep", "er"), { recursive: true });
  writeFileSync(join(releases, partial, "deep", "er", "file"), "x");
  // A symlink inside a tree being removed must not lead the removal outside it.
  const outside = join(tempRoot(t), "keep-me");
  writeFileSync(outside, "precious");
  symlinkSync(outside, join(releases, partial, "link"));
  writeFileSync(join(releases, "20240302T000000Z-eeeeeeeeeeee.json"), JSON.stringify({ id: "20240302T000000Z-eeeeeeeeeeee", deployId: "d", createdAt: "x" }));
  mkdirSync(join(releases, "20240303T000000Z-ffffffffffff", "sub"), { recursive: true });
  writeFileSync(join(releases, `${live}.json.tmp-0a1b2c`), "{");
  mkdirSync(join(releases, `${older}.removing`));
  symlinkSync(`releases/${older}`, join(store.appDir, "current.tmp-abc123"));
  writeFileSync(join(releases, "NOTES.txt"), "an operator's file");

  const result = store.recover();
  t.deepEqual(
    [...result.removed].sort(),
    [
      "20240301T000000Z-dddddddddddd.partial",
      "20240302T000000Z-eeeeeeeeeeee.json",
      "20240303T000000Z-ffffffffffff",
      `${live}.json.tmp-0a1b2c`,
      `${older}.removing`,
      "current.tmp-abc123",
    ].sort(),
  );
  t.is(result.current, live);
  t.deepEqual(result.warnings, []);
  t.is(readFileSync(outside, "utf8"), "precious");
  t.deepEqual(releaseEntries(store), ["NOTES.txt", older, `${older}.json`, live, `${live}.json`].sort());
  t.deepEqual(readdirSync(store.appDir).sort(), ["current", "releases"]);
  t.is(currentTarget(store.appDir), `releases/${live}`);
  t.deepEqual(store.recover(), { removed: [], current: live, warnings: [] }, "a second run finds nothing");
});

test("recover keeps a metadata-less tree that current points at, writes nothing and reports it", (t) => {
  const store = newStore(t);
  const id = release(store, sha("a"));
  store.switchTo(id);
  rmSync(join(store.appDir, "releases", `${id}.json`));
  const result = store.recover();
  t.deepEqual(result.removed, []);
  t.is(result.current, null);
  t.is(result.warnings.length, 1);
  t.regex(result.warnings[0] as string, new RegExp(`points at release ${id}, which is not complete`));
  t.deepEqual(releaseEntries(store), [id]);
  t.is(currentTarget(store.appDir), `releases/${id}`);
});

test("recover on an app that has never deployed does nothing", (t) => {
  const store = newStore(t);
  t.deepEqual(store.recover(), { removed: [], current: null, warnings: [] });
  t.false(existsSync(store.appDir));
});

test("releases are as readable as the app directory, whatever the umask", (t) => {
  const root = tempRoot(t);
  chmodSync(root, 0o755);
  const open = join(root, "open");
  const closed = join(root, "closed");
  mkdirSync(open, { mode: 0o755 });
  mkdirSync(closed, { mode: 0o700 });
  const old = process.umask(0o077);
  let ids: string[];
  try {
    ids = [open, closed].map((dir) => {
      const store = new ReleaseStore(dir);
      const id = release(store, sha("a"));
      store.switchTo(id);
      return id;
    });
  } finally {
    process.umask(old);
  }
  const [openId, closedId] = ids as [string, string];
  const mode = (path: string) => statSync(path).mode & 0o777;
  t.is(mode(join(open, "releases")), 0o755);
  t.is(mode(join(open, "releases", openId)), 0o755);
  t.is(mode(join(open, "releases", `${openId}.json`)), 0o644);
  t.is(mode(join(closed, "releases")), 0o700);
  t.is(mode(join(closed, "releases", closedId)), 0o700);
  t.is(mode(join(closed, "releases", `${closedId}.json`)), 0o600);
  if (process.getuid?.() === 0) {
    chmodSync(join(open, "releases", openId, "index.html"), 0o644);
    const asNobody = (path: string) => spawnSync("cat", ["--", path], { uid: 65534, gid: 65534, encoding: "utf8" });
    t.is(asNobody(join(open, "current", "index.html")).stdout, `${openId}\n`, "another user reads through current");
    t.not(asNobody(join(closed, "current", "index.html")).status, 0);
  }
});

// The invariant the agent rests on: killed at any instant, current still
// points at a complete release, and the next start cleans up the rest.
const moduleUrl = new URL("../../../daemons/deploy-agent/release-store.js", import.meta.url).href;
const filesPerRelease = 40;

const crashScript = `
import { mkdirSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { ReleaseStore } from ${JSON.stringify(moduleUrl)};
const [appDir, files] = [process.argv[2], Number(process.argv[3])];
const store = new ReleaseStore(appDir);
process.stdout.write("ready\\n");
for (let n = 1; ; n++) {
  const id = store.newId(randomBytes(20).toString("hex"));
  const dir = store.begin(id);
  for (let i = 0; i < files; i++) {
    mkdirSync(join(dir, "d" + (i % 4)), { recursive: true });
    writeFileSync(join(dir, "d" + (i % 4), "f" + i), id + " " + i + "\\n");
  }
  if (n % 4 === 0) { store.abandon(id); continue; }
  store.commit({ id, deployId: "deploy-" + n, createdAt: new Date().toISOString() });
  store.switchTo(id);
  if (n % 5 === 0) store.markFailed(id, "verify", "made up");
  store.prune(3);
}
`;

/** Every file the crash script writes, with the release's id in it. */
function assertComplete(t: ExecutionContext, tree: string, id: string): void {
  let count = 0;
  for (const sub of readdirSync(tree)) {
    for (const file of readdirSync(join(tree, sub))) {
      t.is(readFileSync(join(tree, sub, file), "utf8").split(" ")[0], id, `${tree}/${sub}/${file}`);
      count++;
    }
  }
  t.is(count, filesPerRelease, `${tree} holds every file`);
}

async function runUntilReady(script: string, appDir: string): Promise<{ child: ChildProcess; stderr: () => string }> {
  const child = spawn(process.execPath, [script, appDir, String(filesPerRelease)], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once("data", () => resolve());
    child.once("exit", (code) => reject(new Error(`crash script exited with ${code} before it was ready: ${stderr}`)));
  });
  return { child, stderr: () => stderr };
}

test("killed with SIGKILL at random moments, current always points at a complete release and recover cleans the rest", async (t) => {
  const root = tempRoot(t);
  const appDir = join(root, "web");
  const releases = join(appDir, "releases");
  const script = join(root, "crash.mjs");
  writeFileSync(script, crashScript);
  let cleaned = 0;
  let withCurrent = 0;
  for (let kill = 0; kill < 30; kill++) {
    const { child, stderr } = await runUntilReady(script, appDir);
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)));
    await delay(Math.floor(Math.random() * 41));
    child.kill("SIGKILL");
    t.is(await exited, "SIGKILL", `the script died on its own: ${stderr()}`);

    const target = currentTarget(appDir);
    if (withCurrent > 0) t.not(target, null, "once made, current never disappears");
    if (target !== null) {
      withCurrent++;
      const id = target.replace(/^releases\//, "");
      t.true(isReleaseId(id), target);
      t.true(statSync(join(appDir, "current")).isDirectory(), `current -> ${target} resolves to a directory`);
      t.true(existsSync(join(releases, `${id}.json`)), `current -> ${target} has its metadata`);
      assertComplete(t, join(appDir, "current"), id);
    }

    const store = new ReleaseStore(appDir);
    const { removed, current } = store.recover();
    if (removed.length > 0) cleaned++;
    t.is(currentTarget(appDir), target, "recover leaves current as it was");
    if (target !== null) t.is(current, target.replace(/^releases\//, ""));
    const names = existsSync(releases) ? readdirSync(releases) : [];
    for (const name of names) {
      t.false(/\.(partial|removing)$|\.tmp-/.test(name), `${name} is left over`);
      if (name.endsWith(".json")) t.true(lstatSync(join(releases, name.slice(0, -5))).isDirectory(), `${name} has its tree`);
      else t.true(names.includes(`${name}.json`), `${name} has its metadata`);
    }
    // A kill before the script made the app's directory leaves nothing at all.
    t.deepEqual(
      (existsSync(appDir) ? readdirSync(appDir) : []).filter((name) => name.startsWith("current.tmp-")),
      [],
    );
    for (const meta of store.list()) assertComplete(t, store.path(meta.id), meta.id);
  }
  t.true(cleaned > 0, "some kills left half-written releases for recover to remove");
  t.true(withCurrent > 0, "some runs got as far as switching current");
});
