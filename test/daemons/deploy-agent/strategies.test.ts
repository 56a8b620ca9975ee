import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { execa } from "execa";
import * as tar from "tar";
import { AppRepo, agentConfig, agentDirs, Conductor, recordingScript, startAgent, tempDir, uniqueBus, writeApp, envOf } from "./agent-fixture.ts";
import { rawTarGz, serve, sha256 } from "./artifact-fixture.ts";

// The two strategies besides `release`, end to end through a real agent on the
// in-memory bus: `artifact` downloads a tar.gz from a real local HTTP server,
// checks its sha256 and refuses unsafe archives before anything is written;
// `checkout` keeps the seed's contract (one site checked out in place, a TAG
// file, pre-deploy.sh / post-deploy.sh -t TAG in a control directory).


/** Every path under `dir`, relative, as lstat sees it (symlinks are not followed). */
function walk(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

/** A tar.gz made by node-tar from real files, as a build pipeline would. */
async function buildArtifact(t: ExecutionContext, files: Record<string, { content: string; mode: number }>): Promise<Buffer> {
  const src = tempDir(t, "dk-artifact-src-");
  for (const [path, file] of Object.entries(files)) {
    mkdirSync(dirname(join(src, path)), { recursive: true });
    writeFileSync(join(src, path), file.content);
    chmodSync(join(src, path), file.mode);
  }
  const out = join(tempDir(t, "dk-artifact-out-"), "app.tar.gz");
  await tar.c({ gzip: true, file: out, cwd: src }, readdirSync(src).sort());
  return readFileSync(out);
}

async function artifactSetup(t: ExecutionContext, bodies: Record<string, Buffer>) {
  const dirs = agentDirs(t);
  writeApp(dirs, "shop", { strategy: "artifact" });
  const { base } = await serve(t, (req, res) => {
    const body = bodies[req.url ?? ""];
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "application/gzip", "content-length": body.length });
    res.end(body);
  });
  const { url, prefix } = uniqueBus();
  const conductor = await Conductor.start(t, url, prefix, join(dirs.keysDir, "conductor.key"));
  await startAgent(t, url, prefix, agentConfig(dirs, "web-1"));
  return { dirs, base, conductor, appDir: join(dirs.root, "shop") };
}

test("artifact: a checked tar.gz becomes the current release, owned by the app's user, its pre-link hook run in it; a wrong sha256 changes nothing", async (t) => {
  const good = await buildArtifact(t, {
    "index.html": { content: "artifact v1", mode: 0o644 },
    "bin/hook": { content: recordingScript, mode: 0o755 },
    "deploykit.yml": { content: "scripts:\n  pre-link: bin/hook\n", mode: 0o644 },
  });
  const { dirs, base, conductor, appDir } = await artifactSetup(t, { "/shop-1.tar.gz": good });
  const url = `${base}/shop-1.tar.gz`;

  const deployId = await conductor.send({ app: "shop", ref: "refs/tags/v1", artifact: { url, sha256: sha256(good) } });
  const result = await conductor.result(deployId);
  t.is(result.outcome, "succeeded", result.reason);
  t.regex(result.release ?? "", new RegExp(`^[0-9]{8}T[0-9]{6}Z-${sha256(good).slice(0, 12)}$`), "the release is named after the artifact's sha256");
  const releaseDir = join(appDir, "releases", result.release as string);
  t.is(readlinkSync(join(appDir, "current")), `releases/${result.release}`);
  t.is(readFileSync(join(appDir, "current", "index.html"), "utf8"), "artifact v1");
  for (const path of ["", ...walk(releaseDir)]) {
    t.is(statSync(join(releaseDir, path)).uid, 65534, `${path || "the release directory"} belongs to nobody, not to the archive's uid 0`);
  }
  t.is(statSync(join(releaseDir, "bin/hook")).mode & 0o777, 0o755, "the hook keeps its mode");

  t.is(readFileSync(join(dirs.out, "pre-link.uid"), "utf8").trim(), "65534", "the artifact's pre-link hook ran as nobody");
  const env = envOf(dirs.out, "pre-link");
  t.is(env.DEPLOYKIT_RELEASE_DIR, releaseDir);
  t.is(env.DEPLOYKIT_STEP, "pre-link");
  t.is(env.DEPLOYKIT_REF, "refs/tags/v1");
  t.true(conductor.steps(deployId).includes("pre-link:succeeded"));
  t.deepEqual(readdirSync(join(dirs.stateDir, "downloads")), [], "the downloaded archive is removed");

  rmSync(join(dirs.out, "pre-link.env"));
  const wrong = sha256("not the artifact");
  const badId = await conductor.send({ app: "shop", ref: "refs/tags/v2", artifact: { url, sha256: wrong } });
  const bad = await conductor.result(badId);
  t.is(bad.outcome, "failed");
  t.is(bad.failedStep, "fetch");
  t.regex(bad.reason ?? "", new RegExp(`sha256 of .* is ${sha256(good)}, expected ${wrong}`));
  t.is(bad.release, result.release, "the result says what is still current");
  t.is(readlinkSync(join(appDir, "current")), `releases/${result.release}`, "current is unchanged");
  t.is(readFileSync(join(appDir, "current", "index.html"), "utf8"), "artifact v1");
  const releases = readdirSync(join(appDir, "releases"));
  t.deepEqual(
    releases.filter((name) => !name.endsWith(".json")),
    [result.release as string],
    "no release was left for the refused artifact",
  );
  t.deepEqual(
    releases.filter((name) => name.endsWith(".partial")),
    [],
  );
  t.deepEqual(releases, [result.release as string, `${result.release}.json`]);
  t.false(existsSync(join(dirs.out, "pre-link.env")), "no hook ran for the refused artifact");
  t.deepEqual(readdirSync(join(dirs.stateDir, "downloads")), [], "the refused download is removed too");
});

test("artifact: an archive with a path-traversal entry is refused at fetch and nothing is written, inside or outside the release", async (t) => {
  const evil = rawTarGz([
    { name: "index.html", body: "looks fine" },
    { name: "../../../escaped.txt", body: "pwned" },
  ]);
  const { dirs, base, conductor, appDir } = await artifactSetup(t, { "/evil.tar.gz": evil });
  const deployId = await conductor.send({ app: "shop", ref: "refs/tags/v1", artifact: { url: `${base}/evil.tar.gz`, sha256: sha256(evil) } });
  const result = await conductor.result(deployId);
  t.is(result.outcome, "failed");
  t.is(result.failedStep, "fetch");
  t.regex(result.reason ?? "", /refused, nothing was extracted/);
  t.regex(result.reason ?? "", /"\.\.\/\.\.\/\.\.\/escaped\.txt" has a '\.\.' segment/);
  t.is(result.release, null);
  t.false(existsSync(join(appDir, "current")));
  t.deepEqual(readdirSync(join(appDir, "releases")), [], "no tree, metadata or .partial left");
  t.deepEqual(
    walk(dirs.dir).filter((path) => path.endsWith("escaped.txt") || path.endsWith("index.html")),
    [],
    "nothing of the archive was written anywhere under the agent's directories",
  );
  t.false(existsSync(join(dirs.root, "..", "escaped.txt")));
});

/** The seed's control scripts: each records its name, step and arguments, one line per run. */
const controlScript = `#!/bin/sh
name=$(basename "$0" .sh)
echo "$name $DEPLOYKIT_STEP $*" >> "$TEST_OUT/control.log"
id -u > "$TEST_OUT/$name.uid"
pwd > "$TEST_OUT/$name.cwd"
`;

async function siteHead(site: string): Promise<string> {
  return (await execa("git", ["-c", `safe.directory=${site}`, "-C", site, "rev-parse", "HEAD"])).stdout;
}

test("checkout: tags are checked out in place with a TAG file and the control scripts get -t TAG; rollback checks the previous tag out again", async (t) => {
  const dirs = agentDirs(t);
  const repo = await AppRepo.create(t, dirs.mirrorDir);
  const site = join(dirs.dir, "site");
  const control = join(dirs.dir, "control");
  mkdirSync(control, { mode: 0o755 });
  chmodSync(control, 0o755);
  for (const script of ["pre-deploy.sh", "post-deploy.sh"]) {
    writeFileSync(join(control, script), controlScript);
    chmodSync(join(control, script), 0o755);
  }
  writeApp(dirs, "shop", { strategy: "checkout", repo: "acme/shop", site, controlDir: control });
  const { url, prefix } = uniqueBus();
  const conductor = await Conductor.start(t, url, prefix, join(dirs.keysDir, "conductor.key"));
  await startAgent(t, url, prefix, agentConfig(dirs, "web-1"));
  const log = () => readFileSync(join(dirs.out, "control.log"), "utf8").trim().split("\n");

  const v1 = await repo.commit({ "index.html": "v1", "only-in-v1.txt": "old" }, "v1.0.0");
  const first = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1.0.0", sha: v1 }));
  t.is(first.outcome, "succeeded", `${first.failedStep}: ${first.reason}`);
  t.is(first.release, "v1.0.0");
  t.is(await siteHead(site), v1, "the site's HEAD is the tagged commit");
  t.is(readFileSync(join(site, "index.html"), "utf8"), "v1");
  t.true(existsSync(join(site, "only-in-v1.txt")));
  t.is(readFileSync(join(site, "TAG"), "utf8").trim(), "v1.0.0");
  t.is(statSync(site).uid, 65534, "the agent made the site and gave it to the app's user");
  t.is(statSync(join(site, "index.html")).uid, 65534, "the checkout ran as the app's user");
  t.deepEqual(log(), ["pre-deploy pre-link -t v1.0.0", "post-deploy post-deploy -t v1.0.0"]);
  t.is(readFileSync(join(dirs.out, "pre-deploy.uid"), "utf8").trim(), "65534", "control scripts run as the app's user");
  t.is(readFileSync(join(dirs.out, "post-deploy.cwd"), "utf8").trim(), control, "control scripts run in the control directory");

  rmSync(join(repo.work, "only-in-v1.txt"));
  const v2 = await repo.commit({ "index.html": "v2" }, "v2.0.0");
  const second = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v2.0.0", sha: v2 }));
  t.is(second.outcome, "succeeded", second.reason);
  t.is(second.release, "v2.0.0");
  t.is(second.previousRelease, "v1.0.0");
  t.is(await siteHead(site), v2);
  t.is(readFileSync(join(site, "index.html"), "utf8"), "v2");
  t.false(existsSync(join(site, "only-in-v1.txt")), "files gone from the commit are gone from the site");
  t.is(readFileSync(join(site, "TAG"), "utf8").trim(), "v2.0.0");
  t.deepEqual(log().slice(2), ["pre-deploy pre-link -t v2.0.0", "post-deploy post-deploy -t v2.0.0"]);

  const back = await conductor.result(await conductor.send({ app: "shop", action: "rollback" }));
  t.is(back.outcome, "succeeded", back.reason);
  t.is(back.release, "v1.0.0");
  t.is(back.previousRelease, "v2.0.0");
  t.is(await siteHead(site), v1);
  t.is(readFileSync(join(site, "index.html"), "utf8"), "v1");
  t.true(existsSync(join(site, "only-in-v1.txt")));
  t.is(readFileSync(join(site, "TAG"), "utf8").trim(), "v1.0.0");
});
