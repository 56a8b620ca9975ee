import { appendFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/**
 * The nonces of accepted deploy requests, each until its request expires, so
 * a request captured off the bus cannot be replayed, not even across an agent
 * restart: every accepted nonce is appended to a file that is read back (and
 * compacted) at start.
 */
export class NonceStore {
  readonly file: string;
  #live = new Map<string, number>();
  #lines = 0;
  #now: () => number;

  constructor(file: string, now: () => number = Date.now) {
    this.file = file;
    this.#now = now;
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    const now0 = now();
    for (const line of text.split("\n")) {
      const [nonce, expires] = line.split(" ");
      const expiresAt = Number(expires);
      // A torn last line (killed mid-write) is skipped; its request had not been acted on yet.
      if (nonce && Number.isFinite(expiresAt) && expiresAt > now0) this.#live.set(nonce, expiresAt);
    }
    this.#compact();
  }

  /** True when the nonce was accepted before and its request has not expired yet. */
  seen(nonce: string): boolean {
    const expiresAt = this.#live.get(nonce);
    return expiresAt !== undefined && expiresAt > this.#now();
  }

  /** Records an accepted nonce, on disk before the request is acted on. */
  remember(nonce: string, expiresAt: number): void {
    this.#live.set(nonce, expiresAt);
    appendFileSync(this.file, `${nonce} ${expiresAt}\n`, { mode: 0o600 });
    this.#lines++;
    if (this.#lines > 1000 && this.#lines > 2 * this.#live.size) this.#compact();
  }

  get size(): number {
    return this.#live.size;
  }

  #compact(): void {
    const now = this.#now();
    for (const [nonce, expiresAt] of this.#live) if (expiresAt <= now) this.#live.delete(nonce);
    const temporary = `${this.file}.tmp`;
    writeFileSync(temporary, [...this.#live].map(([nonce, expiresAt]) => `${nonce} ${expiresAt}\n`).join(""), { mode: 0o600 });
    renameSync(temporary, this.file);
    this.#lines = this.#live.size;
  }
}
