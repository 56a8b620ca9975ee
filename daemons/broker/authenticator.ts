import { randomBytes, scrypt, type ScryptOptions, createHash, timingSafeEqual } from "node:crypto";

const scryptAsync = (password: string, salt: Buffer, length: number, options: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => scrypt(password, salt, length, options, (err, key) => (err ? reject(err) : resolve(key))));

const defaults = { N: 16_384, r: 8, p: 1 };

/** `scrypt$N$r$p$SALT$HASH`, base64: what `broker.users` holds instead of a password. */
export async function hashPassword(password: string, cost = defaults): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, 32, { ...cost, maxmem: 256 * cost.N * cost.r });
  return `scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

interface Account {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

export type AnonymousPolicy = "loopback" | "any" | "none";

export type AuthResult = { ok: true; user: string } | { ok: false; reason: string };

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === "::1" || /^(::ffff:)?127\./.test(address);
}

/** Checks CONNECT credentials against `broker.users` and the anonymous policy. */
export class Authenticator {
  private readonly accounts = new Map<string, Account>();
  private readonly anonymous: AnonymousPolicy;
  /** Credentials already verified, by login and a digest of the passcode: scrypt is deliberately slow and clients reconnect. */
  private readonly verified = new Map<string, boolean>();

  constructor(users: readonly string[], anonymous: AnonymousPolicy) {
    this.anonymous = anonymous;
    for (const [index, entry] of users.entries()) {
      const colon = entry.indexOf(":");
      const login = entry.slice(0, colon);
      const parts = entry.slice(colon + 1).split("$");
      if (colon <= 0 || parts.length !== 6 || parts[0] !== "scrypt") {
        // Never quote the entry itself: it may be a password pasted in by mistake.
        const which = colon > 0 ? `"${login}"` : `entry ${index + 1}`;
        throw new Error(`broker.users: ${which} is not LOGIN:scrypt$...; make the hash with deploykit broker hash-password`);
      }
      const [, N, r, p, salt, hash] = parts as [string, string, string, string, string, string];
      const account = { N: Number(N), r: Number(r), p: Number(p), salt: Buffer.from(salt, "base64"), hash: Buffer.from(hash, "base64") };
      // Found now, not as an "internal broker error" at every login of this user.
      const whole = (n: number, max: number) => Number.isInteger(n) && n >= 1 && n <= max;
      if (!whole(account.N, 2 ** 20) || account.N < 2 || (account.N & (account.N - 1)) !== 0 || !whole(account.r, 64) || !whole(account.p, 16) || account.hash.length < 16) {
        throw new Error(`broker.users: the hash of "${login}" is damaged or not from hash-password; make it again with deploykit broker hash-password`);
      }
      this.accounts.set(login, account);
    }
    if (anonymous === "none" && this.accounts.size === 0) {
      throw new Error("broker.anonymous is none and broker.users is empty: no client could connect; add a user or allow loopback");
    }
  }

  async check(login: string | undefined, passcode: string | undefined, remoteAddress: string | undefined): Promise<AuthResult> {
    if (login && this.accounts.size > 0) return this.password(login, passcode ?? "");
    switch (this.anonymous) {
      case "any":
        return { ok: true, user: "anonymous" };
      case "loopback":
        return isLoopback(remoteAddress)
          ? { ok: true, user: "anonymous" }
          : { ok: false, reason: "anonymous access is only allowed from this host: connect with a login and passcode" };
      case "none":
        return { ok: false, reason: "this broker requires a login and passcode" };
      default: {
        const unreachable: never = this.anonymous;
        return { ok: false, reason: `unknown policy ${String(unreachable)}` };
      }
    }
  }

  private async password(login: string, passcode: string): Promise<AuthResult> {
    const account = this.accounts.get(login);
    const failed: AuthResult = { ok: false, reason: "login failed: unknown login or wrong passcode" };
    if (!account) return failed;
    const key = `${login}\0${createHash("sha256").update(passcode).digest("base64")}`;
    let ok = this.verified.get(key);
    if (ok === undefined) {
      const hash = await scryptAsync(passcode, account.salt, account.hash.length, {
        N: account.N,
        r: account.r,
        p: account.p,
        maxmem: 256 * account.N * account.r,
      });
      ok = timingSafeEqual(hash, account.hash);
      if (this.verified.size > 10_000) this.verified.clear();
      this.verified.set(key, ok);
    }
    return ok ? { ok: true, user: login } : failed;
  }
}
