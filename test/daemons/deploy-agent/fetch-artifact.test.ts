import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import test, { type ExecutionContext } from "ava";
import { ArtifactError, type ArtifactProblem, type FetchArtifactOptions, fetchArtifact } from "../../../daemons/deploy-agent/fetch-artifact.ts";
import { layout, type RawEntry, rawTarGz, sendBody, serve, sha256, tarGzOf, tree } from "./artifact-fixture.ts";

const nobody = 65534;

/** Runs fetchArtifact against the test's layout; returns the error it threw, or the result. */
async function attempt(t: ExecutionContext, dirs: ReturnType<typeof layout>, options: Partial<FetchArtifactOptions> & { url: string; sha256: string }) {
  const lines: string[] = [];
  try {
    const result = await fetchArtifact({
      dest: dirs.dest,
      tmpDir: dirs.tmp,
      maxBytes: 10_000_000,
      timeoutMs: 30_000,
      inactivityMs: 30_000,
      onLine: (text) => void lines.push(text),
      ...options,
    });
    return { result, lines, error: undefined };
  } catch (err) {
    t.true(err instanceof ArtifactError, `only ArtifactError is thrown, got ${String(err)}`);
    return { result: undefined, lines, error: err as ArtifactError };
  }
}

async function refused(t: ExecutionContext, dirs: ReturnType<typeof layout>, problem: ArtifactProblem, options: Parameters<typeof attempt>[2]) {
  const outcome = await attempt(t, dirs, options);
  t.is(outcome.error?.problem, problem, outcome.error?.message ?? "it succeeded");
  t.deepEqual(tree(dirs.dest), [], "nothing is extracted");
  t.deepEqual(tree(dirs.tmp), [], "the temp file is removed");
  return { message: outcome.error?.message ?? "", lines: outcome.lines };
}

test("a good artifact extracts with its contents, an executable script that runs, a relative link, and the agent as owner", async (t) => {
  const dirs = layout(t);
  const src = join(dirs.root, "src");
  mkdirSync(join(src, "bin"), { recursive: true });
  mkdirSync(join(src, "config"));
  writeFileSync(join(src, "bin", "start.sh"), "#!/bin/sh\necho started\n");
  chmodSync(join(src, "bin", "start.sh"), 0o755);
  writeFileSync(join(src, "README.md"), "# app\n");
  writeFileSync(join(src, "config", "app.json"), '{"port":8080}\n');
  symlinkSync("app.json", join(src, "config", "current.json"));
  // Owners in the archive that must not come back on the server.
  for (const name of ["", ...tree(src)]) lchownSync(join(src, name), 1234, 1234);
  const body = await tarGzOf(src, join(dirs.root, "app.tar.gz"));
  const server = await serve(t, sendBody(body));

  const { result, lines, error } = await attempt(t, dirs, { url: `${server.base}/releases/app.tar.gz`, sha256: sha256(body) });
  t.is(error, undefined);
  t.is(result?.bytes, body.length);
  t.is(result?.entries, 6);
  t.deepEqual(tree(dirs.dest), ["README.md", "bin", "bin/start.sh", "config", "config/app.json", "config/current.json"]);
  t.is(readFileSync(join(dirs.dest, "config", "app.json"), "utf8"), '{"port":8080}\n');
  t.is(readlinkSync(join(dirs.dest, "config", "current.json")), "app.json");
  t.is(execFileSync(join(dirs.dest, "bin", "start.sh"), { encoding: "utf8" }), "started\n");
  t.is(statSync(join(dirs.dest, "README.md")).mode & 0o111, 0);
  for (const name of tree(dirs.dest)) t.is(lstatSync(join(dirs.dest, name)).uid, process.getuid?.() ?? -1, `${name} belongs to the agent`);
  t.is(lines.length, 3);
  t.is(lines[0], `downloading ${server.base}/releases/app.tar.gz`);
  t.regex(lines[1] ?? "", new RegExp(`^downloaded ${body.length} bytes in \\d+ ms, sha256 ok$`));
  t.is(lines[2], "extracted 6 entries");
  t.deepEqual(tree(dirs.tmp), [], "the temp file is removed after success");
});

test("setuid and setgid bits are stripped while the rest of each mode is kept", async (t) => {
  const dirs = layout(t);
  const body = rawTarGz([
    { name: "shared/", type: "5", mode: 0o2775 },
    { name: "shared/tool", mode: 0o4755, body: "#!/bin/sh\necho tool\n" },
    { name: "shared/secret", mode: 0o2640, body: "x" },
  ]);
  const server = await serve(t, sendBody(body));
  const { error } = await attempt(t, dirs, { url: `${server.base}/a.tar.gz`, sha256: sha256(body) });
  t.is(error, undefined);
  for (const name of tree(dirs.dest)) t.is(lstatSync(join(dirs.dest, name)).mode & 0o6000, 0, `${name} has no setuid/setgid bit`);
  t.is(statSync(join(dirs.dest, "shared", "tool")).mode & 0o111, 0o111);
  t.is(statSync(join(dirs.dest, "shared", "secret")).mode & 0o777, 0o640);
  t.is(execFileSync(join(dirs.dest, "shared", "tool"), { encoding: "utf8" }), "tool\n");
});

test("with uid and gid, nobody owns every extracted entry: files, links and the directories implied by paths", async (t) => {
  const dirs = layout(t);
  const body = rawTarGz([
    { name: "app/bin/run", mode: 0o755, uid: 1234, gid: 1234, body: "#!/bin/sh\n" },
    { name: "app/current", type: "2", linkname: "bin/run", uid: 1234, gid: 1234 },
    // A link to its own directory stays inside, so it is allowed, and it too must belong to nobody.
    { name: "app/here", type: "2", linkname: ".", uid: 1234, gid: 1234 },
    { name: "app/run-again", type: "1", linkname: "app/bin/run", uid: 1234, gid: 1234 },
    { name: "data/", type: "5", mode: 0o750, uid: 0, gid: 0 },
  ]);
  const server = await serve(t, sendBody(body));
  const { error } = await attempt(t, dirs, { url: `${server.base}/a.tar.gz`, sha256: sha256(body), uid: nobody, gid: nobody });
  t.is(error, undefined);
  t.deepEqual(tree(dirs.dest), ["app", "app/bin", "app/bin/run", "app/current", "app/here", "app/run-again", "data"]);
  for (const name of tree(dirs.dest)) {
    const info = lstatSync(join(dirs.dest, name));
    t.deepEqual([info.uid, info.gid], [nobody, nobody], `${name} belongs to nobody`);
  }
});

test("a wrong sha256 is refused with both hashes and nothing is extracted", async (t) => {
  const dirs = layout(t);
  const body = rawTarGz([{ name: "ok.txt", body: "fine" }]);
  const server = await serve(t, sendBody(body));
  const wrong = sha256("something else");
  const { message } = await refused(t, dirs, "checksum", { url: `${server.base}/a.tar.gz`, sha256: wrong });
  t.true(message.includes(wrong) && message.includes(sha256(body)), message);
});

test("an expected sha256 that is not 64 lowercase hex digits is refused before any download", async (t) => {
  const dirs = layout(t);
  const server = await serve(t, sendBody(Buffer.from("x")));
  await refused(t, dirs, "checksum", { url: `${server.base}/a.tar.gz`, sha256: sha256("x").toUpperCase() });
  t.is(server.requests.length, 0);
});

const unsafe: { title: string; entries: (outside: string) => RawEntry[]; says: string }[] = [
  { title: "a ../ path", entries: () => [{ name: "../evil", body: "x" }], says: `"../evil" has a '..' segment` },
  { title: "an absolute path into /etc", entries: () => [{ name: "/etc/evil", body: "x" }], says: `"/etc/evil" has an absolute path` },
  { title: "an absolute path into a real directory", entries: (outside) => [{ name: `${outside}/evil`, body: "x" }], says: "has an absolute path" },
  { title: "a path that climbs out after descending", entries: () => [{ name: "a/../../evil", body: "x" }], says: `"a/../../evil" has a '..' segment` },
  { title: "a symlink to /etc", entries: () => [{ name: "etc", type: "2", linkname: "/etc" }], says: "is a symlink to the absolute path" },
  {
    title: "a symlink climbing out of its directory",
    entries: () => [
      { name: "sub/", type: "5", mode: 0o755 },
      { name: "sub/up", type: "2", linkname: "../../x" },
    ],
    says: `"sub/up" is a symlink to "../../x", outside the release`,
  },
  {
    title: "a hard link to a file outside",
    entries: () => [{ name: "h", type: "1", linkname: "../outside/victim" }],
    says: `"h" is a hard link to "../outside/victim"`,
  },
  {
    title: "a hard link to a symlink (which would move the symlink's base)",
    entries: () => [
      { name: "d1/d2/s", type: "2", linkname: "../x" },
      { name: "h", type: "1", linkname: "d1/d2/s" },
    ],
    says: "which is not a file earlier in the archive",
  },
  {
    title: "a symlink out, then a file written through it",
    entries: (outside) => [
      { name: "a", type: "2", linkname: outside },
      { name: "a/passwd", body: "root::0:0::/:/bin/sh\n" },
    ],
    says: `"a" is a symlink to the absolute path`,
  },
  {
    title: "a chain of symlinks that each look inside but lead out, then a file through them",
    entries: () => [
      { name: "q", type: "2", linkname: "." },
      { name: "p", type: "2", linkname: "q/../outside" },
      { name: "p/evil", body: "x" },
    ],
    says: `"p" is a symlink to "q/../outside" that leads outside the release through other links`,
  },
  {
    title: "a file written through a symlink inside the release",
    entries: () => [
      { name: "sub/b", type: "2", linkname: ".." },
      { name: "sub/b/x", body: "x" },
    ],
    says: `"sub/b/x" would be written through the symlink "sub/b"`,
  },
  { title: "a character device", entries: () => [{ name: "dev/zero", type: "3" }], says: "is a CharacterDevice" },
  { title: "a FIFO", entries: () => [{ name: "pipe", type: "6" }], says: "is a FIFO" },
];

for (const { title, entries, says } of unsafe) {
  test(`an archive with ${title} is refused whole and nothing is written anywhere`, async (t) => {
    const dirs = layout(t);
    writeFileSync(join(dirs.outside, "victim"), "original");
    const etcEvilBefore = existsSync("/etc/evil");
    const body = rawTarGz([{ name: "ok.txt", body: "fine" }, ...entries(dirs.outside)]);
    const server = await serve(t, sendBody(body));
    const { message } = await refused(t, dirs, "unsafe-entry", { url: `${server.base}/a.tar.gz`, sha256: sha256(body) });
    t.true(message.includes(says), message);
    t.deepEqual(tree(dirs.root), ["dest", "outside", "outside/victim", "tmp"], "nothing is written next to the release");
    t.is(readFileSync(join(dirs.outside, "victim"), "utf8"), "original");
    t.is(existsSync("/etc/evil"), etcEvilBefore);
  });
}

test("a Content-Length over maxBytes is refused", async (t) => {
  const dirs = layout(t);
  const body = rawTarGz([{ name: "big.bin", body: "y".repeat(5000) }]);
  const server = await serve(t, sendBody(body));
  const { message } = await refused(t, dirs, "too-large", { url: `${server.base}/a.tar.gz`, sha256: sha256(body), maxBytes: body.length - 1 });
  t.true(message.includes(`${body.length} bytes`), message);
});

test("a chunked body without a length is cut off once it passes maxBytes", async (t) => {
  const dirs = layout(t);
  const body = randomBytes(256 * 1024);
  const server = await serve(t, (_req, res) => {
    res.writeHead(200, { "content-type": "application/gzip" });
    for (let at = 0; at < body.length; at += 16 * 1024) res.write(body.subarray(at, at + 16 * 1024));
    res.end();
  });
  const { message } = await refused(t, dirs, "too-large", { url: `${server.base}/a.tar.gz`, sha256: sha256(body), maxBytes: 100_000 });
  t.true(message.includes("100000"), message);
  t.is(server.requests[0]?.headers["content-length"], undefined);
});

test("a 404 is a download error naming the status; URL credentials go in a header and, like the query, never in a message or line", async (t) => {
  const dirs = layout(t);
  const server = await serve(t, (_req, res) => {
    res.writeHead(404);
    res.end("no such artifact");
  });
  const url = server.base.replace("http://", "http://deployer:s3cr%40t@");
  const { message, lines } = await refused(t, dirs, "download", { url: `${url}/missing.tar.gz?X-Amz-Signature=abc123`, sha256: sha256("x") });
  t.true(message.includes("HTTP 404"), message);
  t.true(message.includes(`${server.base}/missing.tar.gz?…`), message);
  for (const text of [message, ...lines]) t.false(/deployer|s3cr|abc123/.test(text), text);
  t.is(server.requests[0]?.url, "/missing.tar.gz?X-Amz-Signature=abc123");
  t.is(server.requests[0]?.headers.authorization, `Basic ${Buffer.from("deployer:s3cr@t").toString("base64")}`);
});

test("up to 5 redirects are followed; a sixth is refused", async (t) => {
  const body = rawTarGz([{ name: "ok.txt", body: "fine" }]);
  const server = await serve(t, (req, res) => {
    const hop = Number(/^\/r(\d+)$/.exec(req.url ?? "")?.[1] ?? -1);
    if (hop > 0) {
      res.writeHead(302, { location: `/r${hop - 1}` });
      res.end();
    } else sendBody(body)(req, res);
  });
  const good = layout(t);
  const { error, lines } = await attempt(t, good, { url: `${server.base}/r5`, sha256: sha256(body) });
  t.is(error, undefined);
  t.deepEqual(tree(good.dest), ["ok.txt"]);
  t.is(lines.filter((line) => line.startsWith("redirected to")).length, 5);
  const { message } = await refused(t, layout(t), "download", { url: `${server.base}/r6`, sha256: sha256(body) });
  t.true(message.includes("more than 5"), message);
});

test("a redirect to a file: URL is refused", async (t) => {
  const dirs = layout(t);
  const server = await serve(t, (_req, res) => {
    res.writeHead(302, { location: "file:///etc/passwd" });
    res.end();
  });
  const { message } = await refused(t, dirs, "download", { url: `${server.base}/a.tar.gz`, sha256: sha256("x") });
  t.true(message.includes("file:"), message);
});

test("credentials are not sent on to another origin after a redirect", async (t) => {
  const body = rawTarGz([{ name: "ok.txt", body: "fine" }]);
  const other = await serve(t, sendBody(body));
  const first = await serve(t, (_req, res) => {
    res.writeHead(307, { location: `${other.base}/a.tar.gz` });
    res.end();
  });
  const { error } = await attempt(t, layout(t), { url: `${first.base.replace("http://", "http://u:p@")}/a.tar.gz`, sha256: sha256(body) });
  t.is(error, undefined);
  t.truthy(first.requests[0]?.headers.authorization);
  t.is(other.requests[0]?.headers.authorization, undefined);
});

test("URLs other than http: and https: are refused before any network access", async (t) => {
  const server = await serve(t, sendBody(Buffer.from("x")));
  const cases = [
    ["file:///etc/passwd", "uses file:, which is refused"],
    [`ftp://${server.base.slice("http://".length)}/a.tar.gz`, "uses ftp:, which is refused"],
    ["not a url", "not a valid absolute URL"],
  ];
  for (const [url = "", says = ""] of cases) {
    const { message } = await refused(t, layout(t), "download", { url, sha256: sha256("x") });
    t.true(message.includes(says), message);
  }
  t.is(server.requests.length, 0);
});

/** A server that sends the first half of `body` and then nothing; `sent` resolves once it did. */
async function stallingServer(t: ExecutionContext, body: Buffer) {
  let sent: () => void = () => {};
  const half = new Promise<void>((resolve) => {
    sent = resolve;
  });
  const server = await serve(t, (_req, res) => {
    res.writeHead(200, { "content-length": body.length });
    res.write(body.subarray(0, body.length / 2), () => sent());
  });
  return { ...server, half };
}

test("a server that stalls mid-body hits the inactivity timeout", async (t) => {
  const dirs = layout(t);
  const body = randomBytes(64 * 1024);
  const server = await stallingServer(t, body);
  const { message } = await refused(t, dirs, "timeout", { url: `${server.base}/a.tar.gz`, sha256: sha256(body), inactivityMs: 300 });
  t.true(message.includes("no data for 300 ms"), message);
});

test("a server that never answers hits the inactivity timeout", async (t) => {
  const dirs = layout(t);
  const server = await serve(t, () => {});
  const { message } = await refused(t, dirs, "timeout", { url: `${server.base}/a.tar.gz`, sha256: sha256("x"), inactivityMs: 300 });
  t.true(message.includes("no data"), message);
});

test("a server that trickles forever hits the whole-download timeout", async (t) => {
  const dirs = layout(t);
  const server = await serve(t, (_req, res) => {
    res.writeHead(200);
    const timer = setInterval(() => res.write("x"), 20);
    res.on("close", () => clearInterval(timer));
  });
  const { message } = await refused(t, dirs, "timeout", { url: `${server.base}/a.tar.gz`, sha256: sha256("x"), timeoutMs: 400 });
  t.true(message.includes("longer than 400 ms"), message);
});

test("aborting the signal cancels a download in progress", async (t) => {
  const dirs = layout(t);
  const body = randomBytes(64 * 1024);
  const server = await stallingServer(t, body);
  const controller = new AbortController();
  void server.half.then(() => controller.abort());
  await refused(t, dirs, "cancelled", { url: `${server.base}/a.tar.gz`, sha256: sha256(body), signal: controller.signal });
  t.is(server.requests.length, 1);
});

test("an already aborted signal cancels before any request", async (t) => {
  const server = await serve(t, sendBody(Buffer.from("x")));
  await refused(t, layout(t), "cancelled", { url: `${server.base}/a.tar.gz`, sha256: sha256("x"), signal: AbortSignal.abort() });
  t.is(server.requests.length, 0);
});

test("bodies that are not a tar.gz are refused as format: plain text, a bare tar, a truncated gzip, gzip of junk", async (t) => {
  const good = rawTarGz([{ name: "ok.txt", body: "z".repeat(20_000) }]);
  const bodies = [
    Buffer.from("<html>not an archive</html>"),
    gunzipSync(good),
    good.subarray(0, good.length - 40),
    good.subarray(0, 10),
    gzipSync("this is not a tar archive, only words, enough of them to fill a block. ".repeat(10)),
  ];
  for (const body of bodies) {
    const server = await serve(t, sendBody(body));
    await refused(t, layout(t), "format", { url: `${server.base}/a.tar.gz`, sha256: sha256(body) });
  }
});

test("a destination that is not an empty directory is refused before any download", async (t) => {
  const dirs = layout(t);
  writeFileSync(join(dirs.dest, "left-over"), "x");
  const server = await serve(t, sendBody(Buffer.from("x")));
  const { error } = await attempt(t, dirs, { url: `${server.base}/a.tar.gz`, sha256: sha256("x") });
  t.is(error?.problem, "format");
  t.true(error?.message.includes("not empty"), error?.message);
  t.is(server.requests.length, 0);
});
