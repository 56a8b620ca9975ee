import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { AppLockError, acquireAppLock, type LockInfo, releaseStaleLocks } from "../../../daemons/deploy-agent/app-lock.ts";

function lockDir(t: ExecutionContext): string {
  const root = mkdtempSync(join(tmpdir(), "dk-locks-"));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return join(root, "locks");
}

function info(app: string, deployId: string, pid: number): LockInfo {
  return { app, deployId, pid, startedAt: "2024-01-01T00:00:00.000Z" };
}

/** The pid of a process that has exited and been reaped. */
async function deadPid(): Promise<number> {
  const child = spawn("true", [], { stdio: "ignore" });
  await new Promise((resolve) => child.once("exit", resolve));
  return child.pid as number;
}

/** The pid of a process that lives until the test ends (not this process: its own pid counts as stale). */
async function livePid(t: ExecutionContext): Promise<number> {
  const child = spawn("sleep", ["60"], { stdio: "ignore" });
  await new Promise((resolve) => child.once("spawn", resolve));
  t.teardown(() => {
    child.kill("SIGKILL");
  });
  return child.pid as number;
}

test("a lock is held until released, and tells who holds it", (t) => {
  const dir = lockDir(t);
  const first = info("web", "deploy-1", process.pid);
  const held = acquireAppLock(dir, first);
  if (!held.acquired) return t.fail("the first acquire must succeed");
  t.is(statSync(dir).mode & 0o777, 0o700);
  t.is(statSync(join(dir, "web.lock")).mode & 0o777, 0o600);
  t.deepEqual(JSON.parse(readFileSync(join(dir, "web.lock"), "utf8")), first);

  t.deepEqual(acquireAppLock(dir, info("web", "deploy-2", process.pid)), { acquired: false, heldBy: first });
  t.true(acquireAppLock(dir, info("api", "deploy-3", process.pid)).acquired, "another app has its own lock");

  held.release();
  t.false(existsSync(join(dir, "web.lock")));
  held.release();
  const again = acquireAppLock(dir, info("web", "deploy-2", process.pid));
  t.true(again.acquired);
});

test("release leaves a lock that is no longer ours", (t) => {
  const dir = lockDir(t);
  const ours = acquireAppLock(dir, info("web", "deploy-1", process.pid));
  if (!ours.acquired) return t.fail("the first acquire must succeed");
  // As after a restart: the stale lock was cleaned and another deploy took the app.
  rmSync(join(dir, "web.lock"));
  const theirs = info("web", "deploy-2", process.pid);
  t.true(acquireAppLock(dir, theirs).acquired);
  ours.release();
  t.deepEqual(JSON.parse(readFileSync(join(dir, "web.lock"), "utf8")), theirs);

  // Same deploy id, other pid: still not ours.
  rmSync(join(dir, "web.lock"));
  const samePidLater = info("web", "deploy-1", process.pid + 1);
  t.true(acquireAppLock(dir, samePidLater).acquired);
  ours.release();
  t.deepEqual(JSON.parse(readFileSync(join(dir, "web.lock"), "utf8")), samePidLater);
});

test("at start, locks of dead processes are released and locks of live ones kept", async (t) => {
  const dir = lockDir(t);
  const dead = info("web", "deploy-dead", await deadPid());
  const live = info("api", "deploy-live", await livePid(t));
  t.true(acquireAppLock(dir, dead).acquired);
  t.true(acquireAppLock(dir, live).acquired);
  t.deepEqual(releaseStaleLocks(dir), [dead]);
  t.deepEqual(readdirSync(dir), ["api.lock"]);
  t.deepEqual(acquireAppLock(dir, info("api", "deploy-x", process.pid)), { acquired: false, heldBy: live });
  t.true(acquireAppLock(dir, info("web", "deploy-x", process.pid)).acquired, "the released app can be locked again");
});

test("a lock naming this process's own pid is left from a predecessor with the same pid, and is stale", (t) => {
  const dir = lockDir(t);
  const mine = info("web", "deploy-1", process.pid);
  t.true(acquireAppLock(dir, mine).acquired);
  t.deepEqual(releaseStaleLocks(dir), [mine]);
  t.deepEqual(readdirSync(dir), []);
});

test("the liveness check can be given, and sees every readable lock's pid", (t) => {
  const dir = lockDir(t);
  t.true(acquireAppLock(dir, info("web", "d-1", 1234)).acquired);
  t.true(acquireAppLock(dir, info("api", "d-2", 5678)).acquired);
  const asked: number[] = [];
  const released = releaseStaleLocks(dir, (pid) => {
    asked.push(pid);
    return pid === 1234;
  });
  t.deepEqual(asked.sort(), [1234, 5678]);
  t.deepEqual(released, [info("api", "d-2", 5678)]);
  t.deepEqual(readdirSync(dir), ["web.lock"]);
});

test("unreadable locks are released as unknown; other files are left alone", (t) => {
  const dir = lockDir(t);
  t.true(acquireAppLock(dir, info("keep", "d-1", 1)).acquired);
  writeFileSync(join(dir, "empty.lock"), "");
  writeFileSync(join(dir, "garbage.lock"), '{"app":');
  // pid 0 would make a liveness probe signal the whole process group.
  writeFileSync(join(dir, "group.lock"), JSON.stringify(info("group", "d-2", 0)));
  writeFileSync(join(dir, "renamed.lock"), JSON.stringify(info("other", "d-3", 1)));
  writeFileSync(join(dir, "README"), "operator notes");
  writeFileSync(join(dir, "Upper.lock"), "not an app name");
  const released = releaseStaleLocks(dir, () => true);
  t.deepEqual(
    released.sort((a, b) => a.app.localeCompare(b.app)),
    ["empty", "garbage", "group", "renamed"].map((app) => ({ app, deployId: "unknown", pid: 0, startedAt: "" })),
  );
  t.deepEqual(readdirSync(dir).sort(), ["README", "Upper.lock", "keep.lock"]);
});

test("a missing lock directory has no stale locks", (t) => {
  t.deepEqual(releaseStaleLocks(lockDir(t)), []);
});

test("bad app names are refused before any path is made", (t) => {
  const dir = lockDir(t);
  for (const app of ["", "../etc", "a/b", "Web", "-web", ".web", "_web", "web\n", "a".repeat(129)]) {
    t.throws(() => acquireAppLock(dir, info(app, "d", process.pid)), { instanceOf: AppLockError, message: /app name .* is not valid/ }, JSON.stringify(app));
  }
  t.false(existsSync(dir), "nothing was created");
  t.true(acquireAppLock(dir, info("a".repeat(128), "d", process.pid)).acquired);
  t.throws(() => acquireAppLock(dir, info("web", "d", 0)), { instanceOf: AppLockError });
});
