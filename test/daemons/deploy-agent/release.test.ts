import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { AppRepo, agentConfig, agentDirs, Conductor, recordingScript, startAgent, uniqueBus, writeApp, envOf } from "./agent-fixture.ts";

// The release strategy end to end on the in-memory bus: a signed request makes
// the agent export the tagged commit into releases/<id>, run the hooks as the
// app's user with the documented environment, switch current, restart, verify.

const hooks = {
  "bin/hook": { content: recordingScript, mode: 0o755 },
  "deploykit.yml": "scripts:\n  pre-link: bin/hook\n  post-deploy: [bin/hook, --from-repo]\nrestart: bin/hook\nhealthCheck:\n  command: [bin/hook]\n  retries: 0\n",
};


async function setup(t: import("ava").ExecutionContext, appConfig: Record<string, unknown> = {}) {
  const dirs = agentDirs(t);
  const repo = await AppRepo.create(t, dirs.mirrorDir);
  writeApp(dirs, "shop", { repo: "acme/shop", keep: 2, ...appConfig });
  const { url, prefix } = uniqueBus();
  const conductor = await Conductor.start(t, url, prefix, join(dirs.keysDir, "conductor.key"));
  const agent = await startAgent(t, url, prefix, agentConfig(dirs, "web-1"));
  return { dirs, repo, conductor, agent, appDir: join(dirs.root, "shop") };
}

test("a signed request deploys a tag: every step reported in order, hooks run as the app user with the documented environment", async (t) => {
  const { dirs, repo, conductor, appDir } = await setup(t);
  const sha = await repo.commit({ ...hooks, "index.html": "v1" }, "v1.0.0");
  const deployId = await conductor.send({ app: "shop", ref: "refs/tags/v1.0.0", sha, actor: "alice" });
  const result = await conductor.result(deployId);

  t.is(result.outcome, "succeeded", result.reason);
  t.is(result.host, "web-1");
  t.is(result.app, "shop");
  t.is(result.sha, sha);
  t.regex(result.release ?? "", new RegExp(`^[0-9]{8}T[0-9]{6}Z-${sha.slice(0, 12)}$`));
  t.is(result.previousRelease, null);
  t.deepEqual(conductor.steps(deployId), [
    "preflight:started",
    "preflight:succeeded",
    "pre-fetch:skipped",
    "fetch:started",
    "fetch:succeeded",
    "pre-link:started",
    "pre-link:succeeded",
    "link:started",
    "link:succeeded",
    "restart:started",
    "restart:succeeded",
    "post-deploy:started",
    "post-deploy:succeeded",
    "verify:started",
    "verify:succeeded",
  ]);
  const seqs = conductor.progress.filter((m) => m.body.deployId === deployId).map((m) => m.body.seq);
  t.deepEqual(
    [...seqs].sort((a, b) => a - b),
    seqs.map((_, index) => index),
    "progress seq numbers are contiguous from 0",
  );
  t.true(conductor.lines(deployId, "pre-link").includes("pre-link says hello"), "script output is streamed");
  t.true(conductor.lines(deployId, "pre-link").includes("pre-link to stderr"));

  const releaseDir = join(appDir, "releases", result.release as string);
  t.is(readlinkSync(join(appDir, "current")), `releases/${result.release}`, "current is a relative symlink to the release");
  t.is(readFileSync(join(appDir, "current", "index.html"), "utf8"), "v1");
  t.is(statSync(join(releaseDir, "index.html")).uid, 65534, "the release belongs to the app's user");

  const env = envOf(dirs.out, "pre-link");
  t.is(readFileSync(join(dirs.out, "pre-link.uid"), "utf8").trim(), "65534", "scripts run as nobody");
  t.is(env.DEPLOYKIT_APP, "shop");
  t.is(env.DEPLOYKIT_ENVIRONMENT, "production");
  t.is(env.DEPLOYKIT_REF, "refs/tags/v1.0.0");
  t.is(env.DEPLOYKIT_SHA, sha);
  t.is(env.DEPLOYKIT_PREVIOUS_SHA, "");
  t.is(env.DEPLOYKIT_DEPLOY_ID, deployId);
  t.is(env.DEPLOYKIT_HOST, "web-1");
  t.is(env.DEPLOYKIT_RELEASE_DIR, releaseDir);
  t.is(env.DEPLOYKIT_STEP, "pre-link");
  t.is(env.PATH, "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  t.is(env.USER, "nobody");
  t.is(env.TEST_OUT, dirs.out, "the app's own environment is passed");
  t.false("DEPLOYKIT_CONFIG" in env, "nothing of the agent's environment leaks");
  t.is(realpathSync(readFileSync(join(dirs.out, "pre-link.cwd"), "utf8").trim()), realpathSync(releaseDir), "pre-link runs in the new release");
  t.is(readFileSync(join(dirs.out, "post-deploy.args"), "utf8").trim(), "--from-repo", "argv from deploykit.yml");
});

test("a second deploy records the previous sha; keep prunes the oldest releases, never current", async (t) => {
  const { dirs, repo, conductor, appDir } = await setup(t);
  const releases: string[] = [];
  let previousSha = "";
  for (const version of ["v1", "v2", "v3"]) {
    const sha = await repo.commit({ ...hooks, "index.html": version }, version);
    const result = await conductor.result(await conductor.send({ app: "shop", ref: `refs/tags/${version}`, sha }));
    t.is(result.outcome, "succeeded", result.reason);
    t.is(envOf(dirs.out, "pre-link").DEPLOYKIT_PREVIOUS_SHA, previousSha);
    t.is(result.previousRelease, releases.at(-1) ?? null);
    releases.push(result.release as string);
    previousSha = sha;
  }
  t.is(readFileSync(join(appDir, "current", "index.html"), "utf8"), "v3");
  const left = readdirSync(join(appDir, "releases")).filter((name) => !name.endsWith(".json"));
  t.deepEqual(left.sort(), releases.slice(1).sort(), "keep: 2 removed the oldest release");
});

test("a failed health check after link rolls back to the previous release and says rolled-back with the failed step's output", async (t) => {
  const { dirs, repo, conductor, appDir } = await setup(t);
  const good = await repo.commit({ ...hooks, "index.html": "good" }, "v1");
  const first = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1", sha: good }));
  t.is(first.outcome, "succeeded", first.reason);

  const bad = await repo.commit({ "index.html": "bad" }, "v2");
  writeFileSync(join(dirs.out, "fail-verify"), "");
  const deployId = await conductor.send({ app: "shop", ref: "refs/tags/v2", sha: bad });
  const result = await conductor.result(deployId);

  t.is(result.outcome, "rolled-back", result.reason);
  t.is(result.failedStep, "verify");
  t.is(result.release, first.release, "the release reported is the one running now");
  t.regex(result.reason ?? "", /health check failed/);
  t.true((result.tail ?? []).some((line) => line.includes("verify fails on purpose")), `tail: ${result.tail?.join(" | ")}`);
  t.is(readFileSync(join(appDir, "current", "index.html"), "utf8"), "good", "current points at the good release again");
  t.deepEqual(conductor.steps(deployId).slice(-4), ["verify:started", "verify:failed", "rollback:started", "rollback:succeeded"]);
  t.true(existsSync(join(dirs.out, "rollback.env")), "the restart command ran again for the release rolled back to");
});

test("the rollback action switches to the previous release, or a named one, and restarts", async (t) => {
  const { repo, conductor, appDir } = await setup(t, { keep: 5 });
  const done: string[] = [];
  for (const version of ["v1", "v2", "v3"]) {
    const sha = await repo.commit({ ...hooks, "index.html": version }, version);
    const result = await conductor.result(await conductor.send({ app: "shop", ref: `refs/tags/${version}`, sha }));
    done.push(result.release as string);
  }
  const back = await conductor.result(await conductor.send({ app: "shop", action: "rollback" }));
  t.is(back.outcome, "succeeded", back.reason);
  t.is(back.release, done[1]);
  t.is(back.previousRelease, done[2]);
  t.is(readFileSync(join(appDir, "current", "index.html"), "utf8"), "v2");

  const named = await conductor.result(await conductor.send({ app: "shop", action: "rollback", release: done[0] }));
  t.is(named.outcome, "succeeded", named.reason);
  t.is(readFileSync(join(appDir, "current", "index.html"), "utf8"), "v1");

  const missing = await conductor.result(await conductor.send({ app: "shop", action: "rollback", release: "20200101T000000Z-0123456789ab" }));
  t.is(missing.outcome, "failed");
  t.regex(missing.reason ?? "", /not on this host/);
  t.is(readFileSync(join(appDir, "current", "index.html"), "utf8"), "v1", "a failed rollback changes nothing");
});

test("a failing pre-link script stops the deploy before link: current is untouched and the half-made release is gone", async (t) => {
  const { dirs, repo, conductor, appDir } = await setup(t);
  const good = await repo.commit({ ...hooks, "index.html": "good" }, "v1");
  const first = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1", sha: good }));
  const bad = await repo.commit({ "index.html": "bad" }, "v2");
  writeFileSync(join(dirs.out, "fail-pre-link"), "");
  const result = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v2", sha: bad }));
  t.is(result.outcome, "failed");
  t.is(result.failedStep, "pre-link");
  t.regex(result.reason ?? "", /exited with 3/);
  t.is(result.release, first.release);
  t.is(readFileSync(join(appDir, "current", "index.html"), "utf8"), "good");
  t.deepEqual(
    readdirSync(join(appDir, "releases")).filter((name) => !name.endsWith(".json")),
    [first.release as string],
    "the failed release was removed",
  );
});

test("a release whose metadata was corrupted on disk gets a refusal naming the problem, and the agent stays up", async (t) => {
  const { repo, conductor, appDir } = await setup(t);
  const v1 = await repo.commit({ "index.html": "v1" }, "v1");
  const first = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1", sha: v1 }));
  const meta = join(appDir, "releases", `${first.release}.json`);
  const saved = readFileSync(meta, "utf8");
  writeFileSync(meta, "{not json");
  const v2 = await repo.commit({ "index.html": "v2" }, "v2");
  const refused = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v2", sha: v2 }));
  t.is(refused.outcome, "refused");
  t.regex(refused.reason ?? "", /could not start on web-1: .*json/i);
  writeFileSync(meta, saved);
  const second = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v2", sha: v2 }));
  t.is(second.outcome, "succeeded", second.reason);
});
