import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, chownSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { RequestHandler, Response } from "express";
import YAML from "yaml";
import { z } from "zod";
import { isoTime, name } from "../../shared/messages/fields.ts";

/** Each role may do what the ones before it may, and more (docs/conductor-api.md). */
export const roles = ["viewer", "deployer", "admin"] as const;
export type Role = (typeof roles)[number];

/** True when a token of role `have` may do what needs `need`. */
export function roleAllows(have: Role, need: Role): boolean {
  return roles.indexOf(have) >= roles.indexOf(need);
}

export interface TokenInfo {
  name: string;
  role: Role;
  /** ISO-8601. */
  created: string;
}

/** Why a tokens file or a token could not be read or written; `reason` picks the CLI's exit status. */
export class TokenFileError extends Error {
  readonly reason: "bad-file" | "bad-input" | "name-taken" | "io";
  constructor(reason: TokenFileError["reason"], message: string) {
    super(message);
    this.name = "TokenFileError";
    this.reason = reason;
  }
}

const entrySchema = z.strictObject({
  name,
  role: z.enum(roles),
  hash: z.string().regex(/^sha256:[0-9a-f]{64}$/, "must be sha256:<64 lowercase hex digits> (the hash of the token, never the token)"),
  created: isoTime,
});

const fileSchema = z.strictObject({ tokens: z.array(z.unknown()).default([]) }).nullable();

interface Entry extends TokenInfo {
  digest: Buffer;
}

// Long enough for any token this code makes and then some; a header longer than this is not worth hashing.
const longestToken = 512;

function digestOf(token: string): Buffer {
  return createHash("sha256").update(token, "utf8").digest();
}

/** The tokens the API accepts, from one read of the tokens file. */
export class TokenStore {
  readonly file: string;
  private readonly entries: readonly Entry[];

  constructor(file: string, entries: readonly Entry[]) {
    this.file = file;
    this.entries = entries;
  }

  /** Who a presented token belongs to, or undefined for one that is not known. */
  verify(presented: string): { name: string; role: Role } | undefined {
    if (presented.length === 0 || presented.length > longestToken) return undefined;
    const digest = digestOf(presented);
    let found: Entry | undefined;
    // Every entry is compared, in constant time each, so timing tells nothing about which one (if any) matched.
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, digest) && found === undefined) found = entry;
    }
    return found && { name: found.name, role: found.role };
  }

  get size(): number {
    return this.entries.length;
  }

  list(): TokenInfo[] {
    return this.entries.map(({ name, role, created }) => ({ name, role, created }));
  }

  has(name: string): boolean {
    return this.entries.some((entry) => entry.name === name);
  }
}

/**
 * Reads the tokens file: `tokens: [{ name, role, hash, created }]`. A file
 * that does not exist means no tokens (every authenticated route answers 401);
 * a bad one fails with the file and the entry to fix.
 */
export function readTokens(file: string): TokenStore {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return new TokenStore(file, []);
    throw new TokenFileError("bad-file", `tokens file ${file} cannot be read: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = YAML.parse(text);
  } catch (err) {
    throw new TokenFileError("bad-file", `tokens file ${file} is not valid YAML: ${(err as Error).message}`);
  }
  const top = fileSchema.safeParse(parsed);
  if (!top.success) throw new TokenFileError("bad-file", `tokens file ${file} must hold one key, tokens: a list of { name, role, hash, created }`);
  const entries: Entry[] = [];
  for (const [index, raw] of (top.data?.tokens ?? []).entries()) {
    const label = `entry ${index + 1}${typeof (raw as { name?: unknown })?.name === "string" ? ` (${(raw as { name: string }).name})` : ""}`;
    const result = entrySchema.safeParse(raw);
    if (!result.success) {
      const problems = result.error.issues.map((issue) => `${issue.path.join(".") || "(the entry)"}: ${issue.message}`);
      throw new TokenFileError("bad-file", `tokens file ${file}, ${label}: ${problems.join("; ")}`);
    }
    const entry = result.data;
    if (entries.some((other) => other.name === entry.name)) throw new TokenFileError("bad-file", `tokens file ${file}, ${label}: the name ${entry.name} is used twice; names are what deploys record, keep them unique`);
    entries.push({ name: entry.name, role: entry.role, created: entry.created, digest: Buffer.from(entry.hash.slice("sha256:".length), "hex") });
  }
  return new TokenStore(file, entries);
}

/**
 * Adds a token to the file (creating it, mode 0600, in a directory created
 * 0700) and returns the token itself: the file keeps only its hash, so this is
 * the one time anyone sees it.
 */
export function createToken(file: string, wanted: { name: string; role: Role }): string {
  if (!name.safeParse(wanted.name).success) throw new TokenFileError("bad-input", `token name ${JSON.stringify(wanted.name)} must match [a-z0-9][a-z0-9._-]* (it is recorded as who deployed)`);
  if (!(roles as readonly string[]).includes(wanted.role)) throw new TokenFileError("bad-input", `role ${JSON.stringify(wanted.role)} must be one of ${roles.join(", ")}`);
  // Reading first refuses to rewrite a file that is broken: the operator fixes it, nothing in it is lost.
  const store = readTokens(file);
  if (store.has(wanted.name)) throw new TokenFileError("name-taken", `a token named ${wanted.name} is in ${file} already: pick another name, or remove that entry first`);
  const token = `dk_${randomBytes(32).toString("base64url")}`;
  const entry = { name: wanted.name, role: wanted.role, hash: `sha256:${digestOf(token).toString("hex")}`, created: new Date().toISOString() };
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    text = "";
  }
  // Through the document, so comments and order an operator or Puppet wrote stay as they were.
  const document = YAML.parseDocument(text);
  const tokens = document.get("tokens");
  if (YAML.isSeq(tokens)) tokens.add(document.createNode(entry));
  else document.set("tokens", document.createNode([entry]));
  writePrivate(file, document.toString());
  return token;
}

/**
 * For `deploykit up`: when the tokens file holds no admin token, makes one
 * (named admin, or admin-2… when that name is taken) and writes the token
 * itself to `plainTokenFile`, mode 0600, for the operator to pick up. Does
 * nothing once an admin token exists.
 */
export function ensureAdminToken(file: string, plainTokenFile: string): { created: boolean; tokenFile: string } {
  const store = readTokens(file);
  if (store.list().some((entry) => entry.role === "admin")) return { created: false, tokenFile: plainTokenFile };
  let adminName = "admin";
  for (let suffix = 2; store.has(adminName); suffix++) adminName = `admin-${suffix}`;
  // Reserve the plain file before the entry exists: a failure between the two leaves a stale plain file (replaced
  // on the next start), never an admin token nobody can see.
  writePrivate(plainTokenFile, "");
  const token = createToken(file, { name: adminName, role: "admin" });
  writePrivate(plainTokenFile, `${token}\n`);
  return { created: true, tokenFile: plainTokenFile };
}

/**
 * Replaces a file in one rename, mode 0600, so the conductor never reads half
 * a file. When root writes it (`sudo deploykit token create`), it keeps the
 * owner of the file it replaces, or takes its directory's, so the conductor's
 * user can still read it.
 */
function writePrivate(file: string, text: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(temporary, text, { mode: 0o600, flag: "wx" });
    chmodSync(temporary, 0o600);
    if (process.getuid?.() === 0) {
      const owner = ownerOf(file) ?? ownerOf(dirname(file));
      if (owner) chownSync(temporary, owner.uid, owner.gid);
    }
    renameSync(temporary, file);
  } catch (err) {
    rmSync(temporary, { force: true });
    throw new TokenFileError("io", `cannot write ${file}: ${(err as Error).message}`);
  }
}

function ownerOf(path: string): { uid: number; gid: number } | undefined {
  try {
    const info = statSync(path);
    return { uid: info.uid, gid: info.gid };
  } catch {
    return undefined;
  }
}

/**
 * Lets a request through when it carries `Authorization: Bearer <token>` of at
 * least `need`, with `res.locals.actor` (the token's name) and
 * `res.locals.role` set; answers 401 unauthenticated or 403 forbidden
 * otherwise. Give a function for the store when the conductor reloads the
 * tokens file: each request then sees the current one.
 */
export function requireRole(store: TokenStore | (() => TokenStore), need: Role): RequestHandler {
  return (request, response, next) => {
    const header = request.get("authorization");
    if (header === undefined) return unauthenticated(response, "this needs a token: send Authorization: Bearer <token> (an admin makes one with deploykit token create)");
    const bearer = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
    if (!bearer) return unauthenticated(response, "the Authorization header must be Bearer <token>");
    const who = (typeof store === "function" ? store() : store).verify(bearer[1] as string);
    if (!who) return unauthenticated(response, "the token is not known (it may have been removed): ask an admin for a new one", "invalid_token");
    if (!roleAllows(who.role, need)) {
      response.status(403).json({ error: { code: "forbidden", message: `${who.name} is a ${who.role}; this needs ${need}` } });
      return;
    }
    response.locals.actor = who.name;
    response.locals.role = who.role;
    next();
  };
}

// RFC 6750: the challenge names the scheme, and says why a presented token failed.
function unauthenticated(response: Response, message: string, error?: "invalid_token"): void {
  response.setHeader("WWW-Authenticate", `Bearer realm="deploykit"${error ? `, error="${error}"` : ""}`);
  response.status(401).json({ error: { code: "unauthenticated", message } });
}
