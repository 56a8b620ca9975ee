import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { isDebianPackageName } from "../../shared/debian/package-name.ts";
import { isDebianVersion } from "../../shared/debian/compare-versions.ts";

/**
 * Which candidate version of each package was announced, so a candidate is
 * announced once however many update messages or periodic checks see it.
 * Kept in a small JSON file when one is configured, so a restart does not
 * announce it again; a file that cannot be read or written costs at most a
 * repeated announcement, never the daemon.
 */
export class AnnouncedVersions {
  readonly #file: string;
  readonly #log: Logger;
  readonly #versions: Map<string, string>;
  #dirty = false;

  private constructor(file: string, log: Logger, versions: Map<string, string>) {
    this.#file = file;
    this.#log = log;
    this.#versions = versions;
  }

  /** Reads the file ("" keeps everything in memory). */
  static async open(file: string, log: Logger): Promise<AnnouncedVersions> {
    const versions = new Map<string, string>();
    if (file) {
      try {
        const parsed = JSON.parse(await readFile(file, "utf8")) as { announced?: Record<string, unknown> };
        for (const [name, version] of Object.entries(parsed.announced ?? {})) {
          if (isDebianPackageName(name) && typeof version === "string" && isDebianVersion(version)) versions.set(name, version);
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") log.warn({ err, file }, "cannot read the announced versions: candidates seen before may be announced again");
      }
    }
    return new AnnouncedVersions(file, log, versions);
  }

  announced(name: string): string | undefined {
    return this.#versions.get(name);
  }

  remember(name: string, candidate: string): void {
    if (this.#versions.get(name) === candidate) return;
    this.#versions.set(name, candidate);
    this.#dirty = true;
  }

  /** The host caught up (or the candidate went away): a later candidate is news again. */
  forget(name: string): void {
    if (this.#versions.delete(name)) this.#dirty = true;
  }

  /** Writes the file if anything changed, through a rename so a crash leaves the old or the new one. */
  async save(): Promise<void> {
    if (!this.#file || !this.#dirty) return;
    const announced = Object.fromEntries([...this.#versions].sort(([a], [b]) => a.localeCompare(b)));
    const temporary = `${this.#file}.${process.pid}.tmp`;
    try {
      await mkdir(path.dirname(this.#file), { recursive: true });
      await writeFile(temporary, `${JSON.stringify({ announced }, null, 2)}\n`, { mode: 0o644 });
      await rename(temporary, this.#file);
      this.#dirty = false;
    } catch (err) {
      this.#log.warn({ err, file: this.#file }, "cannot save the announced versions: a restart may announce them again");
    }
  }
}
