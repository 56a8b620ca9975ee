import {
  closeSync,
  constants,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { decodeEnvelope } from "../bus/envelope-codec.ts";
import type { Envelope, TopicName } from "../messages/index.ts";

export interface SpoolLimits {
  maxFiles: number;
  maxBytes: number;
}

/** One message waiting for the bus: what the file holds. */
export interface SpooledMessage {
  topic: TopicName;
  envelope: Envelope;
  /** When it was spooled, and why (the publish error), for `deploykit spool list`. */
  spooledAt?: string;
  reason?: string;
}

export interface SpoolEntry {
  name: string;
  path: string;
  bytes: number;
}

export type ReadResult = { ok: true; message: SpooledMessage } | { ok: false; reason: string };

export class SpoolFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SpoolFullError";
  }
}

// A flush lock older than this is taken over even if its pid looks alive (pid reuse).
const staleLockMs = 10 * 60_000;
const lockName = ".flush.lock";

let sequence = 0;

function pad(value: number, width: number): string {
  return String(value).padStart(width, "0");
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it is just not ours.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * A directory of messages the bus could not take, one JSON file each.
 *
 * Files are written to a dot-named temporary file and renamed into place, so a
 * reader never sees half a message and a crash leaves at worst a dot file,
 * which nothing reads. Names start with the time in milliseconds, then the pid
 * and a per-process sequence, so sorting by name is oldest first. Files are
 * 0600 and the directory 0700: messages can carry names and commit messages
 * that are nobody else's business.
 */
export class SpoolDir {
  readonly dir: string;
  readonly limits: SpoolLimits;

  constructor(dir: string, limits: SpoolLimits) {
    this.dir = dir;
    this.limits = limits;
  }

  get badDir(): string {
    return join(this.dir, "bad");
  }

  /** Writes one message; throws SpoolFullError past the limits, or the file system's error. Returns the file's path. */
  write(message: SpooledMessage): string {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const text = `${JSON.stringify({ ...message, spooledAt: message.spooledAt ?? new Date().toISOString() })}\n`;
    const entries = this.list();
    const bytes = entries.reduce((sum, entry) => sum + entry.bytes, 0);
    if (entries.length + 1 > this.limits.maxFiles || bytes + Buffer.byteLength(text) > this.limits.maxBytes) {
      throw new SpoolFullError(
        `spool ${this.dir} is full (${entries.length} messages, ${bytes} bytes; limits spool.maxFiles ${this.limits.maxFiles}, spool.maxBytes ${this.limits.maxBytes}): ` +
          "run deploykit spool flush once the bus is back, or raise the limits",
      );
    }
    const name = `${pad(Date.now(), 15)}-${pad(process.pid, 7)}-${pad(sequence++, 6)}-${message.envelope.id}.json`;
    const temp = join(this.dir, `.tmp-${name}`);
    const path = join(this.dir, name);
    const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } catch (err) {
      closeSync(fd);
      unlinkSync(temp);
      throw err;
    }
    closeSync(fd);
    renameSync(temp, path);
    return path;
  }

  /** The spooled files, oldest first; none when the directory does not exist. */
  list(): SpoolEntry[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const entries: SpoolEntry[] = [];
    for (const name of names.sort()) {
      if (name.startsWith(".")) continue;
      const path = join(this.dir, name);
      try {
        const stat = statSync(path);
        if (stat.isFile()) entries.push({ name, path, bytes: stat.size });
      } catch {
        // Delivered and removed by a concurrent flush between readdir and stat.
      }
    }
    return entries;
  }

  /** Files moved aside because they could not be delivered. */
  listBad(): SpoolEntry[] {
    return new SpoolDir(this.badDir, this.limits).list().filter((entry) => !entry.name.endsWith(".reason"));
  }

  /** Reads one file and checks it as a receiver would check the message. */
  read(entry: SpoolEntry): ReadResult {
    let json: { topic?: unknown; envelope?: unknown; spooledAt?: unknown; reason?: unknown };
    try {
      json = JSON.parse(readFileSync(entry.path, "utf8"));
    } catch (err) {
      return { ok: false, reason: `not JSON: ${(err as Error).message}` };
    }
    if (typeof json !== "object" || json === null || typeof json.topic !== "string") {
      return { ok: false, reason: "not a spooled message (no topic)" };
    }
    const decoded = decodeEnvelope(json.topic, JSON.stringify(json.envelope));
    if (!decoded.ok) return { ok: false, reason: decoded.reason };
    return {
      ok: true,
      message: {
        topic: json.topic as TopicName,
        envelope: decoded.envelope,
        spooledAt: typeof json.spooledAt === "string" ? json.spooledAt : undefined,
        reason: typeof json.reason === "string" ? json.reason : undefined,
      },
    };
  }

  /** Removes a delivered file; one already gone is fine. */
  remove(entry: SpoolEntry): void {
    try {
      unlinkSync(entry.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }

  /** Moves a file that can never be delivered to bad/, with the reason beside it. Returns its new path. */
  moveAside(entry: SpoolEntry, reason: string): string {
    mkdirSync(this.badDir, { recursive: true, mode: 0o700 });
    const target = join(this.badDir, entry.name);
    renameSync(entry.path, target);
    writeFileSync(`${target}.reason`, `${reason}\n`, { mode: 0o600 });
    return target;
  }

  /**
   * Takes the flush lock so two flushes (two pushes at once) do not deliver
   * the same file twice. Returns the release function, or undefined while
   * another live process holds it. A lock left by a dead process is taken over.
   */
  lock(): (() => void) | undefined {
    const path = join(this.dir, lockName);
    // Written in full first, then linked into place: link(2) fails if the lock
    // exists, and nobody ever sees a lock file without its pid.
    const mine = join(this.dir, `${lockName}.${process.pid}`);
    writeFileSync(mine, `${process.pid}\n`, { mode: 0o600 });
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          linkSync(mine, path);
          return () => this.remove({ name: lockName, path, bytes: 0 });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        }
        if (!this.isStale(path)) return undefined;
        this.remove({ name: lockName, path, bytes: 0 });
      }
      return undefined;
    } finally {
      this.remove({ name: mine, path: mine, bytes: 0 });
    }
  }

  private isStale(path: string): boolean {
    try {
      const pid = Number.parseInt(readFileSync(path, "utf8"), 10);
      const age = Date.now() - statSync(path).mtimeMs;
      return !Number.isInteger(pid) || pid <= 0 || !isAlive(pid) || age > staleLockMs;
    } catch {
      // Gone already (released), or unreadable: try to take it.
      return true;
    }
  }
}
