import { createHash, randomUUID } from "node:crypto";
import { lchown, open, readdir, rm, stat } from "node:fs/promises";
import { join, win32 } from "node:path";
import * as tar from "tar";

export type ArtifactProblem = "download" | "too-large" | "checksum" | "unsafe-entry" | "format" | "cancelled" | "timeout";

export class ArtifactError extends Error {
  readonly problem: ArtifactProblem;
  constructor(problem: ArtifactProblem, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ArtifactError";
    this.problem = problem;
  }
}

export interface FetchArtifactOptions {
  /** http: or https: only; credentials in it go into an Authorization header and never into a message. */
  url: string;
  /** 64 lowercase hex digits. */
  sha256: string;
  /** An existing empty directory to extract into. */
  dest: string;
  /** Where the download is written, as a temp file removed afterwards. */
  tmpDir: string;
  maxBytes: number;
  /** For the whole download. */
  timeoutMs: number;
  /** Longest wait for the next bytes. */
  inactivityMs: number;
  signal?: AbortSignal;
  /** Owner of every extracted entry; without them entries belong to the agent, never to the uids in the archive. */
  uid?: number;
  gid?: number;
  onLine?(text: string): void;
}

const maxRedirects = 5;
const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const fileTypes = new Set(["File", "OldFile", "ContiguousFile"]);
const dirTypes = new Set(["Directory", "GNUDumpDir"]);
const deviceTypes = new Set(["CharacterDevice", "BlockDevice", "FIFO"]);

/**
 * Downloads a tar.gz release, checks its sha256, refuses the whole archive when
 * any entry could land outside `dest` (or is a device), and only then extracts
 * it. Every failure is an ArtifactError; `dest` is left empty after one.
 */
export async function fetchArtifact(options: FetchArtifactOptions): Promise<{ bytes: number; entries: number; durationMs: number }> {
  const started = performance.now();
  const source = parseSource(options.url);
  const label = shown(source.url);
  if (!/^[0-9a-f]{64}$/.test(options.sha256)) {
    throw new ArtifactError("checksum", `the expected sha256 for ${label} is not 64 lowercase hex digits: fix the deploy request`);
  }
  if (options.signal?.aborted) throw new ArtifactError("cancelled", `download of ${label} was cancelled before it started`);
  await checkDest(options.dest);
  const archive = join(options.tmpDir, `artifact-${randomUUID()}.tar.gz`);
  let extracting = false;
  try {
    options.onLine?.(`downloading ${label}`);
    const got = await download(source, archive, options, label);
    if (got.sha256 !== options.sha256) {
      throw new ArtifactError("checksum", `sha256 of ${label} is ${got.sha256}, expected ${options.sha256}: the artifact changed or the request names the wrong one`);
    }
    options.onLine?.(`downloaded ${got.bytes} bytes in ${Math.round(performance.now() - started)} ms, sha256 ok`);
    const entries = await listArchive(archive, label);
    checkEntries(entries, label);
    if (options.signal?.aborted) throw new ArtifactError("cancelled", `deploying ${label} was cancelled before extracting`);
    extracting = true;
    await extract(archive, options, label);
    options.onLine?.(`extracted ${entries.length} entries`);
    return { bytes: got.bytes, entries: entries.length, durationMs: Math.round(performance.now() - started) };
  } catch (err) {
    if (extracting) await emptyDir(options.dest);
    if (err instanceof ArtifactError) throw err;
    throw new ArtifactError(extracting ? "format" : "download", `fetching ${label} failed: ${describe(err)}`, { cause: err });
  } finally {
    await rm(archive, { force: true }).catch(() => {});
  }
}

interface Source {
  url: URL;
  authorization?: string;
}

function parseSource(text: string): Source {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // The text is not repeated: it may hold a password.
    throw new ArtifactError("download", "the artifact URL is not a valid absolute URL: fix the deploy request");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ArtifactError("download", `the artifact URL uses ${url.protocol}, which is refused: only http: and https: artifacts are downloaded`);
  }
  return splitCredentials(url);
}

// fetch refuses URLs with credentials, and a message must never show them.
function splitCredentials(url: URL): Source {
  if (url.username === "" && url.password === "") return { url };
  const pair = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  const bare = new URL(url.href);
  bare.username = "";
  bare.password = "";
  return { url: bare, authorization: `Basic ${Buffer.from(pair).toString("base64")}` };
}

// The query is hidden too: presigned URLs carry their signature there.
function shown(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}${url.search ? "?…" : ""}`;
}

async function checkDest(dest: string): Promise<void> {
  const fail = (why: string) => new ArtifactError("format", `cannot extract into ${dest}: ${why}; the agent must create an empty release directory first`);
  try {
    if (!(await stat(dest)).isDirectory()) throw fail("it is not a directory");
    if ((await readdir(dest)).length > 0) throw fail("it is not empty");
  } catch (err) {
    if (err instanceof ArtifactError) throw err;
    throw fail(describe(err));
  }
}

async function download(source: Source, file: string, options: FetchArtifactOptions, label: string): Promise<{ bytes: number; sha256: string }> {
  const controller = new AbortController();
  let stopped: ArtifactError | undefined;
  const stop = (problem: ArtifactProblem, message: string) => {
    stopped ??= new ArtifactError(problem, message);
    controller.abort();
  };
  const whole = setTimeout(
    () => stop("timeout", `download of ${label} took longer than ${options.timeoutMs} ms: check the server or raise the artifact timeout`),
    options.timeoutMs,
  );
  let idle: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(idle);
    idle = setTimeout(() => stop("timeout", `download of ${label} stalled: no data for ${options.inactivityMs} ms; check the server`), options.inactivityMs);
  };
  const onAbort = () => stop("cancelled", `download of ${label} was cancelled`);
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(file, "wx", 0o600);
    touch();
    const response = await request(source, controller.signal, options, label);
    touch();
    const declared = response.headers.get("content-length");
    if (declared !== null && Number(declared) > options.maxBytes) {
      throw new ArtifactError("too-large", `${label} is ${declared} bytes, more than the limit of ${options.maxBytes}: raise the limit or ship a smaller artifact`);
    }
    const hash = createHash("sha256");
    let bytes = 0;
    if (response.body) {
      for await (const chunk of response.body) {
        touch();
        bytes += chunk.byteLength;
        if (bytes > options.maxBytes) {
          throw new ArtifactError("too-large", `${label} sent more than the limit of ${options.maxBytes} bytes: raise the limit or ship a smaller artifact`);
        }
        hash.update(chunk);
        await handle.write(chunk);
      }
    }
    return { bytes, sha256: hash.digest("hex") };
  } catch (err) {
    if (stopped) throw stopped;
    if (err instanceof ArtifactError) throw err;
    throw new ArtifactError("download", `download of ${label} failed: ${describe(err)}`, { cause: err });
  } finally {
    clearTimeout(whole);
    clearTimeout(idle);
    options.signal?.removeEventListener("abort", onAbort);
    // Ends the connection when the body was not read to the end.
    controller.abort();
    await handle?.close().catch(() => {});
  }
}

// Redirects are followed by hand so that none leads to another scheme and
// credentials never travel to another origin.
async function request(source: Source, signal: AbortSignal, options: FetchArtifactOptions, label: string): Promise<Response> {
  let { url, authorization } = source;
  for (let hop = 0; ; hop++) {
    const headers: Record<string, string> = { "accept-encoding": "identity" };
    if (authorization) headers.authorization = authorization;
    const response = await fetch(url, { redirect: "manual", signal, headers });
    if (response.status >= 200 && response.status < 300) return response;
    await response.body?.cancel().catch(() => {});
    const at = shown(url) === label ? label : `${shown(url)} (redirected from ${label})`;
    if (!redirectStatuses.has(response.status)) {
      throw new ArtifactError("download", `${at} answered HTTP ${response.status} ${response.statusText}: check the URL and that the server has the artifact`);
    }
    const location = response.headers.get("location");
    if (location === null) throw new ArtifactError("download", `${at} answered HTTP ${response.status} without a Location header`);
    if (hop >= maxRedirects) throw new ArtifactError("download", `${label} redirected more than ${maxRedirects} times: give the final URL`);
    let next: URL;
    try {
      next = new URL(location, url);
    } catch {
      throw new ArtifactError("download", `${at} redirected to an invalid URL`);
    }
    if (next.protocol !== "http:" && next.protocol !== "https:") {
      throw new ArtifactError("download", `${at} redirected to a ${next.protocol} URL, which is refused: only http: and https: are followed`);
    }
    const split = splitCredentials(next);
    authorization = split.authorization ?? (next.origin === url.origin ? authorization : undefined);
    url = split.url;
    options.onLine?.(`redirected to ${shown(url)}`);
  }
}

interface Listed {
  path: string;
  type: string;
  linkpath?: string;
}

async function listArchive(file: string, label: string): Promise<Listed[]> {
  const handle = await open(file, "r");
  const magic = Buffer.alloc(2);
  try {
    await handle.read(magic, 0, 2, 0);
  } finally {
    await handle.close();
  }
  if (magic[0] !== 0x1f || magic[1] !== 0x8b) throw new ArtifactError("format", `${label} is not a gzip file: artifacts must be .tar.gz`);
  const entries: Listed[] = [];
  try {
    await tar.t({ file, strict: true, onReadEntry: (entry) => void entries.push({ path: entry.path, type: entry.type, linkpath: entry.linkpath }) });
  } catch (err) {
    throw new ArtifactError("format", `${label} is not a readable tar.gz archive (${describe(err)}): rebuild it with tar -czf`, { cause: err });
  }
  return entries;
}

// Absolute on either platform, or with a drive root node-tar would strip in silence.
const isRooted = (p: string) => p.startsWith("/") || win32.isAbsolute(p) || win32.parse(p).root !== "";
const segments = (p: string) => p.split("/").filter((s) => s !== "" && s !== ".");

/** Whether `target`, walked from the directory `base` by names alone, ever climbs above the destination. */
function climbsOut(base: string[], target: string[]): boolean {
  let depth = base.length;
  for (const seg of target) {
    if (seg === "..") {
      if (depth === 0) return true;
      depth--;
    } else if (seg !== "" && seg !== ".") depth++;
  }
  return false;
}

/** Resolves a path inside the archive as the kernel would, following the archive's own symlinks. */
function follow(path: string[], symlinks: Map<string, string>): "inside" | "outside" | "loop" {
  let hops = 0;
  const walk = (base: string[], segs: string[]): string[] | "outside" | "loop" => {
    let stack = [...base];
    for (const seg of segs) {
      if (seg === "" || seg === ".") continue;
      if (seg === "..") {
        if (stack.length === 0) return "outside";
        stack.pop();
        continue;
      }
      stack.push(seg);
      const target = symlinks.get(stack.join("/"));
      if (target === undefined) continue;
      if (++hops > 40) return "loop";
      if (isRooted(target)) return "outside";
      const resolved = walk(stack.slice(0, -1), target.split("/"));
      if (typeof resolved === "string") return resolved;
      stack = resolved;
    }
    return stack;
  };
  const result = walk([], path);
  return typeof result === "string" ? result : "inside";
}

function checkEntries(entries: Listed[], label: string): void {
  const refuse = (entry: Listed, why: string) =>
    new ArtifactError("unsafe-entry", `${label} refused, nothing was extracted: entry ${JSON.stringify(entry.path)} ${why}; rebuild the artifact without it`);
  const symlinks = new Map<string, string>();
  const links = new Set<string>();
  const seen = new Map<string, string>();
  for (const entry of entries) {
    const { type } = entry;
    if (deviceTypes.has(type)) throw refuse(entry, `is a ${type}, and devices and FIFOs are never extracted`);
    if (!fileTypes.has(type) && !dirTypes.has(type) && type !== "SymbolicLink" && type !== "Link") {
      throw new ArtifactError("format", `${label} has entry ${JSON.stringify(entry.path)} of type ${type}, which is not extracted: rebuild it with tar -czf`);
    }
    if (isRooted(entry.path)) throw refuse(entry, "has an absolute path");
    // node-tar also splits on backslashes, so a '..' there counts too.
    if (entry.path.split(/[\\/]/).includes("..")) throw refuse(entry, "has a '..' segment");
    const key = segments(entry.path).join("/");
    if (key.split("/").length > 1024) throw refuse(entry, "is nested deeper than 1024 directories");
    if (key === "" && !dirTypes.has(type)) throw refuse(entry, "would replace the release directory itself");
    const isLink = type === "SymbolicLink" || type === "Link";
    if (seen.has(key) && (isLink || links.has(key))) throw refuse(entry, "appears more than once and one of them is a link");
    const target = entry.linkpath ?? "";
    if (type === "SymbolicLink") {
      if (isRooted(target)) throw refuse(entry, `is a symlink to the absolute path ${JSON.stringify(target)}`);
      if (climbsOut(segments(entry.path).slice(0, -1), target.split(/[\\/]/))) {
        throw refuse(entry, `is a symlink to ${JSON.stringify(target)}, outside the release`);
      }
      symlinks.set(key, target);
    }
    if (type === "Link") {
      if (isRooted(target) || target.split(/[\\/]/).includes("..")) throw refuse(entry, `is a hard link to ${JSON.stringify(target)}, outside the release`);
      if (!fileTypes.has(seen.get(segments(target).join("/")) ?? "")) {
        throw refuse(entry, `is a hard link to ${JSON.stringify(target)}, which is not a file earlier in the archive`);
      }
    }
    if (isLink) links.add(key);
    seen.set(key, type === "Link" ? "File" : type);
  }
  // Order does not matter here: a link anywhere in the archive taints every path through it.
  for (const entry of entries) {
    const parts = segments(entry.path);
    for (let i = 1; i < parts.length; i++) {
      const through = parts.slice(0, i).join("/");
      if (symlinks.has(through)) throw refuse(entry, `would be written through the symlink ${JSON.stringify(through)}`);
    }
    if (entry.type !== "SymbolicLink") continue;
    const where = follow(parts, symlinks);
    if (where === "outside") throw refuse(entry, `is a symlink to ${JSON.stringify(entry.linkpath)} that leads outside the release through other links`);
    if (where === "loop") throw refuse(entry, "is part of a symlink loop");
  }
}

async function extract(archive: string, options: FetchArtifactOptions, label: string): Promise<void> {
  const owner =
    options.uid === undefined && options.gid === undefined
      ? undefined
      : { uid: options.uid ?? process.getuid?.() ?? 0, gid: options.gid ?? process.getgid?.() ?? 0 };
  try {
    await tar.x({
      file: archive,
      cwd: options.dest,
      // Turns node-tar's own refusals (writing through a symlink, ...) into failures instead of skipped entries.
      strict: true,
      // node-tar keeps the archive's owners by default when run as root.
      preserveOwner: false,
      ...owner,
      onReadEntry: (entry) => {
        if (entry.mode !== undefined) entry.mode &= ~0o6000;
      },
    });
  } catch (err) {
    throw new ArtifactError("format", `extracting ${label} into ${options.dest} failed: ${describe(err)}`, { cause: err });
  }
  // node-tar does not chown the symlinks it makes.
  if (owner) await chownTree(options.dest, owner.uid, owner.gid);
}

// By hand, not readdir({ recursive }): that one descends into symlinked directories.
async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    await lchown(path, uid, gid);
    if (entry.isDirectory()) await chownTree(path, uid, gid);
  }
}

async function emptyDir(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => []);
  for (const name of names) await rm(join(dir, name), { recursive: true, force: true }).catch(() => {});
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
  return `${err.message}${cause}`;
}
