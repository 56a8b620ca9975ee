import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

export interface LockInfo {
  app: string;
  deployId: string;
  pid: number;
  startedAt: string;
}

export type LockResult = { acquired: true; release(): void } | { acquired: false; heldBy: LockInfo | null };

export class AppLockError extends Error {}

const appNamePattern = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const lockSuffix = ".lock";

export function isAppName(value: unknown): value is string {
  return typeof value === "string" && appNamePattern.test(value);
}

/**
 * One deploy per app on this host at a time, across agent restarts: the lock
 * is a file created with O_EXCL, so two agents (or an agent and its
 * predecessor's leftovers) never both hold it.
 */
export function acquireAppLock(lockDir: string, info: LockInfo): LockResult {
  const file = lockPath(lockDir, info.app);
  if (!Number.isInteger(info.pid) || info.pid <= 0) throw new AppLockError(`lock for ${info.app} needs the pid of the deploying process, got ${info.pid}`);
  mkdirSync(lockDir, { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    fd = openSync(file, "wx", 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return { acquired: false, heldBy: readLock(file, info.app) };
  }
  try {
    writeSync(fd, `${JSON.stringify({ app: info.app, deployId: info.deployId, pid: info.pid, startedAt: info.startedAt })}\n`);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(file, { force: true });
    throw err;
  }
  closeSync(fd);
  return {
    acquired: true,
    release() {
      const held = readLock(file, info.app);
      // After a restart cleaned up a stale lock, another deploy may hold the file now: leave it alone.
      if (held && held.deployId === info.deployId && held.pid === info.pid) rmSync(file, { force: true });
    },
  };
}

/**
 * Run at start, before this process takes any lock: removes every lock whose
 * process is gone or whose content is unreadable (an agent killed between
 * creating and writing it). A lock naming this process's own pid is stale too:
 * an agent restarted in a container often gets the pid its predecessor had.
 */
export function releaseStaleLocks(lockDir: string, isAlive: (pid: number) => boolean = otherProcessAlive): LockInfo[] {
  let names: string[];
  try {
    names = readdirSync(lockDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const released: LockInfo[] = [];
  for (const name of names) {
    const app = name.slice(0, -lockSuffix.length);
    if (!name.endsWith(lockSuffix) || !isAppName(app)) continue;
    const file = join(lockDir, name);
    const held = readLock(file, app);
    if (held && isAlive(held.pid)) continue;
    rmSync(file, { force: true });
    released.push(held ?? { app, deployId: "unknown", pid: 0, startedAt: "" });
  }
  return released;
}

function otherProcessAlive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else; anything but ESRCH is treated as alive, to never steal a lock.
    return (err as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

function lockPath(lockDir: string, app: string): string {
  if (!isAppName(app)) throw new AppLockError(`app name ${JSON.stringify(app)} is not valid: use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128 characters`);
  return join(lockDir, `${app}${lockSuffix}`);
}

/** The lock's content, or null when it is gone or not a lock this code wrote for `app`. */
function readLock(file: string, app: string): LockInfo | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null) return null;
  const { deployId, pid, startedAt } = parsed as Record<string, unknown>;
  if ((parsed as Record<string, unknown>).app !== app || typeof deployId !== "string" || typeof startedAt !== "string") return null;
  // pid 0 or a negative pid would make process.kill signal a whole process group.
  if (typeof pid !== "number" || !Number.isInteger(pid) || pid <= 0) return null;
  return { app, deployId, pid, startedAt };
}
