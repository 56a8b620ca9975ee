import { createHash, randomUUID } from "node:crypto";
import { lchown, open, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import * as tar from "tar";
import { ArchiveCheckError, checkArchiveEntries, describe } from "./check-archive-entries.ts";

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
    const entries = await checkArchiveEntries(archive, label).catch((err: unknown) => {
      throw err instanceof ArchiveCheckError ? new ArtifactError(err.problem, err.message, "cause" in err ? { cause: err.cause } : undefined) : err;
    });
    if (options.signal?.aborted) throw new ArtifactError("cancelled", `deploying ${label} was cancelled before extracting`);
    extracting = true;
    await extract(archive, options, label);
    options.onLine?.(`extracted ${entries} entries`);
    return { bytes: got.bytes, entries, durationMs: Math.round(performance.now() - started) };
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
