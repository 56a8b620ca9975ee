import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { version } from "../../../shared/version.ts";
import { waitFor } from "../../helpers/test-bus.ts";
import { type AgentDirs, AppRepo, agentConfig, agentDirs, Conductor, recordingScript, type ResultBody, startAgent, uniqueBus, writeApp } from "./agent-fixture.ts";

// Controlling deploys on one host and across hosts: cancel before and after
// link, step timeouts, one deploy per app while other apps deploy in
// parallel, which hosts act on a targeted request, and what hosts.alive says.

// The recording script, but a blocked step writes its pid first and becomes the
// `sleep` itself (exec), so the test can prove the very process that slept is gone.
// (A replacer function, because `$$` in a replacement string means a single `$`.)
const blockingScript = recordingScript.replace('touch "$TEST_OUT/blocked-$step"; sleep 600', () => 'echo $$ > "$TEST_OUT/$step.pid"; touch "$TEST_OUT/blocked-$step"; exec sleep 600');
if (blockingScript === recordingScript) throw new Error("recordingScript changed: update blockingScript in control.test.ts");

const hooks = {
  "bin/hook": { content: blockingScript, mode: 0o755 },
  "deploykit.yml": "scripts:\n  pre-link: bin/hook\nrestart: bin/hook\n",
};

async function setup(t: ExecutionContext, apps: Record<string, Record<string, unknown>> = { shop: { repo: "acme/shop" } }) {
  const dirs = agentDirs(t);
  const repos: Record<string, AppRepo> = {};
  for (const [app, config] of Object.entries(apps)) {
    repos[app] = await AppRepo.create(t, dirs.mirrorDir, config.repo as string);
    writeApp(dirs, app, config);
  }
  const { url, prefix } = uniqueBus();
  const conductor = await Conductor.start(t, url, prefix, join(dirs.keysDir, "conductor.key"));
  const agent = await startAgent(t, url, prefix, agentConfig(dirs, "web-1"));
  return { dirs, repo: repos.shop as AppRepo, repos, conductor, agent, url, prefix, appDir: join(dirs.root, "shop") };
}

/** Waits until the step's script sleeps; returns the pid of the sleeping process (checked alive unless a timeout may already have killed it). */
async function blockedPid(t: ExecutionContext, out: string, step: string, checkAlive = true): Promise<number> {
  await waitFor(() => existsSync(join(out, `blocked-${step}`)), 20_000, `the ${step} script to block`);
  const pid = Number(readFileSync(join(out, `${step}.pid`), "utf8").trim());
  t.true(Number.isInteger(pid) && pid > 1);
  if (checkAlive) t.notThrows(() => process.kill(pid, 0), "the blocked script is alive before the cancel");
  return pid;
}

function gone(t: ExecutionContext, pid: number): void {
  const error = t.throws(() => process.kill(pid, 0), undefined, `process ${pid} (sleep 600 as nobody) is gone`);
  t.is((error as NodeJS.ErrnoException | undefined)?.code, "ESRCH");
}

function trees(appDir: string): string[] {
  const dir = join(appDir, "releases");
  return existsSync(dir) ? readdirSync(dir).filter((name) => !name.endsWith(".json")) : [];
}

test("cancel before link: the running script is killed, the new release is removed and the previous one stays current", async (t) => {
  const { dirs, repo, conductor, appDir } = await setup(t);
  const first = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1", sha: await repo.commit({ ...hooks, "index.html": "v1" }, "v1") }));
  t.is(first.outcome, "succeeded", first.reason);

  const sha = await repo.commit({ "index.html": "v2" }, "v2");
  writeFileSync(join(dirs.out, "block-pre-link"), "");
  const deployId = await conductor.send({ app: "shop", ref: "refs/tags/v2", sha });
  const pid = await blockedPid(t, dirs.out, "pre-link");
  await conductor.send({ app: "shop", action: "cancel", deployId });

  const result = await conductor.result(deployId);
  t.is(result.outcome, "failed");
  t.is(result.failedStep, "pre-link");
  t.is((result as ResultBody & { cancelled?: boolean }).cancelled, true);
  t.is(result.release, first.release, "the result names what is still current");
  t.is(conductor.results.filter((m) => m.body.deployId === deployId).length, 1, "the cancel itself is not answered separately");
  gone(t, pid);
  t.is(readlinkSync(join(appDir, "current")), `releases/${first.release}`);
  t.is(readFileSync(join(appDir, "current", "index.html"), "utf8"), "v1");
  t.deepEqual(trees(appDir), [first.release as string], "the cancelled release is removed");
  t.false(conductor.steps(deployId).includes("link:started"));
});

test("cancel after link (during restart): the host rolls back to the previous release", async (t) => {
  const { dirs, repo, conductor, appDir } = await setup(t);
  const first = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1", sha: await repo.commit({ ...hooks, "index.html": "v1" }, "v1") }));
  t.is(first.outcome, "succeeded", first.reason);

  const sha = await repo.commit({ "index.html": "v2" }, "v2");
  writeFileSync(join(dirs.out, "block-restart"), "");
  const deployId = await conductor.send({ app: "shop", ref: "refs/tags/v2", sha });
  const pid = await blockedPid(t, dirs.out, "restart");
  t.is(readFileSync(join(appDir, "current", "index.html"), "utf8"), "v2", "the new release was linked before restart blocked");
  await conductor.send({ app: "shop", action: "cancel", deployId });

  const result = await conductor.result(deployId);
  t.is(result.outcome, "rolled-back", result.reason);
  t.is(result.failedStep, "restart");
  t.is(result.release, first.release);
  t.not(result.previousRelease, first.release);
  gone(t, pid);
  t.is(readlinkSync(join(appDir, "current")), `releases/${first.release}`);
  t.is(readFileSync(join(appDir, "current", "index.html"), "utf8"), "v1");
  t.deepEqual(conductor.steps(deployId).slice(-2), ["rollback:started", "rollback:succeeded"]);
  t.is(readFileSync(join(dirs.out, "rollback.cwd"), "utf8").trim(), join(appDir, "releases", first.release as string), "the restart command ran again for the release rolled back to");
  const failed = JSON.parse(readFileSync(join(appDir, "releases", `${result.previousRelease}.json`), "utf8")) as { failed?: { step: string } };
  t.is(failed.failed?.step, "restart", "the cancelled release is kept, marked failed");
});

test("a step longer than the app's timeout is killed and the deploy ends with outcome timeout", async (t) => {
  // The app's timeout holds for every step: long enough that preflight and fetch finish on a loaded machine.
  const { dirs, repo, conductor, appDir } = await setup(t, { shop: { repo: "acme/shop", timeout: "4s" } });
  const sha = await repo.commit({ ...hooks, "index.html": "v1" }, "v1");
  writeFileSync(join(dirs.out, "block-pre-link"), "");
  const deployId = await conductor.send({ app: "shop", ref: "refs/tags/v1", sha });
  const pid = await blockedPid(t, dirs.out, "pre-link", false);
  const result = await conductor.result(deployId);
  t.is(result.outcome, "timeout");
  t.is(result.failedStep, "pre-link");
  t.regex(result.reason ?? "", /ran longer than 4000 ms and was killed/);
  t.true(result.tail?.includes("pre-link says hello"), `tail: ${result.tail?.join(" | ")}`);
  gone(t, pid);
  t.false(existsSync(join(appDir, "current")));
  t.deepEqual(trees(appDir), [], "the timed-out release is removed");
});

test("one deploy per app: a second deploy of a busy app is refused naming the running one, while another app deploys in parallel", async (t) => {
  const { dirs, repos, conductor, appDir } = await setup(t, { shop: { repo: "acme/shop" }, blog: { repo: "acme/blog" } });
  const shopSha = await (repos.shop as AppRepo).commit({ ...hooks, "index.html": "shop v1" }, "v1");
  const blogSha = await (repos.blog as AppRepo).commit({ "index.html": "blog v1" }, "v1");
  writeFileSync(join(dirs.out, "block-pre-link"), "");
  const running = await conductor.send({ app: "shop", ref: "refs/tags/v1", sha: shopSha });
  const pid = await blockedPid(t, dirs.out, "pre-link");

  const second = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1", sha: shopSha }));
  t.is(second.outcome, "refused");
  t.is(second.reason, `another deploy of shop is running on web-1 (${running})`);

  const blog = await conductor.result(await conductor.send({ app: "blog", ref: "refs/tags/v1", sha: blogSha }));
  t.is(blog.outcome, "succeeded", blog.reason);
  t.is(readFileSync(join(dirs.root, "blog", "current", "index.html"), "utf8"), "blog v1");
  t.false(
    conductor.results.some((m) => m.body.deployId === running),
    "shop's deploy was still running while blog deployed",
  );

  await conductor.send({ app: "shop", action: "cancel", deployId: running });
  const cancelled = await conductor.result(running);
  t.is(cancelled.outcome, "failed");
  t.is((cancelled as ResultBody & { cancelled?: boolean }).cancelled, true);
  gone(t, pid);

  rmSync(join(dirs.out, "block-pre-link"));
  const after = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1", sha: shopSha }));
  t.is(after.outcome, "succeeded", `shop deploys again once the cancelled deploy let go of the app: ${after.reason}`);
  t.is(readFileSync(join(appDir, "current", "index.html"), "utf8"), "shop v1");
});

test("a cancel naming no running deploy is refused and stops nothing", async (t) => {
  const { dirs, repo, conductor } = await setup(t);
  const none = await conductor.result(await conductor.send({ app: "shop", action: "cancel", deployId: "d-nothing" }));
  t.is(none.outcome, "refused");
  t.is(none.reason, "no deploy d-nothing of shop is running on web-1");

  writeFileSync(join(dirs.out, "block-pre-link"), "");
  const running = await conductor.send({ app: "shop", ref: "refs/tags/v1", sha: await repo.commit({ ...hooks, "index.html": "v1" }, "v1") });
  const pid = await blockedPid(t, dirs.out, "pre-link");
  const other = await conductor.result(await conductor.send({ app: "shop", action: "cancel", deployId: "d-another" }));
  t.is(other.outcome, "refused");
  t.is(other.reason, "no deploy d-another of shop is running on web-1");
  t.notThrows(() => process.kill(pid, 0), "the running deploy goes on");
  t.false(conductor.results.some((m) => m.body.deployId === running));

  await conductor.send({ app: "shop", action: "cancel", deployId: running });
  t.is((await conductor.result(running)).outcome, "failed");
  gone(t, pid);
});

/** Two agents on one bus: web-1 (role web) and db-1 (role db), each with its own directories, both trusting the same conductor key. */
async function twoHosts(t: ExecutionContext) {
  const web = agentDirs(t);
  const db = agentDirs(t);
  const repo = await AppRepo.create(t, web.mirrorDir);
  const facts = (dirs: AgentDirs, role: string) => {
    const file = join(dirs.dir, "facts.yaml");
    writeFileSync(file, `role: ${role}\n`);
    return file;
  };
  for (const dirs of [web, db]) writeApp(dirs, "shop", { repo: "acme/shop" });
  const { url, prefix } = uniqueBus();
  const conductor = await Conductor.start(t, url, prefix, join(web.keysDir, "conductor.key"));
  const shared = { trustedKeys: [join(web.keysDir, "conductor.pub")], mirrorDir: web.mirrorDir };
  await startAgent(t, url, prefix, agentConfig(web, "web-1", { ...shared, factsFile: facts(web, "web") }));
  await startAgent(t, url, prefix, agentConfig(db, "db-1", { ...shared, factsFile: facts(db, "db") }));
  await waitFor(() => ["web-1", "db-1"].every((host) => conductor.alive.some((m) => m.body.host === host && m.body.event === "startup")), 10_000, "both agents' startup");
  const sha = await repo.commit({ "bin/hook": { content: recordingScript, mode: 0o755 }, "deploykit.yml": "scripts:\n  pre-link: bin/hook\n", "index.html": "v1" }, "v1");
  return { web, db, conductor, sha };
}

test("two agents on one bus: a request naming both identities is deployed by each, one result per host", async (t) => {
  const { web, db, conductor, sha } = await twoHosts(t);
  const deployId = await conductor.send({ app: "shop", ref: "refs/tags/v1", sha, target: { identities: ["web-1", "db-1"] } });
  const fromWeb = await conductor.result(deployId, "web-1");
  const fromDb = await conductor.result(deployId, "db-1");
  t.is(fromWeb.outcome, "succeeded", fromWeb.reason);
  t.is(fromDb.outcome, "succeeded", fromDb.reason);
  t.not(fromWeb.release, undefined);
  for (const [dirs, host] of [
    [web, "web-1"],
    [db, "db-1"],
  ] as const) {
    t.is(readFileSync(join(dirs.root, "shop", "current", "index.html"), "utf8"), "v1", `${host} deployed into its own root`);
    t.regex(readFileSync(join(dirs.out, "pre-link.env"), "utf8"), new RegExp(`^DEPLOYKIT_HOST=${host}$`, "m"));
  }
  t.deepEqual(
    conductor.results
      .filter((m) => m.body.deployId === deployId)
      .map((m) => m.body.host)
      .sort(),
    ["db-1", "web-1"],
  );
});

test("two agents on one bus: a request targeting fact role=web is acted on by web-1 only; db-1 stays silent", async (t) => {
  const { web, db, conductor, sha } = await twoHosts(t);
  const deployId = await conductor.send({ app: "shop", ref: "refs/tags/v1", sha, target: { facts: { role: "web" } } });
  const fromWeb = await conductor.result(deployId, "web-1");
  t.is(fromWeb.outcome, "succeeded", fromWeb.reason);
  t.is(readFileSync(join(web.root, "shop", "current", "index.html"), "utf8"), "v1");
  // db-1 got the same message at the same time; a deploy there would have ended by now.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.false(
    conductor.results.some((m) => m.body.host === "db-1"),
    "db-1 published no result",
  );
  t.false(
    conductor.progress.some((m) => m.body.host === "db-1"),
    "db-1 published no progress",
  );
  t.false(existsSync(join(db.root, "shop")), "db-1 created no release");
  t.false(existsSync(join(db.out, "pre-link.env")), "no script ran on db-1");
});

test("hosts.alive: the startup message says who the host is and what runs there, and after a restart it carries the deployed release", async (t) => {
  const dirs = agentDirs(t);
  const repo = await AppRepo.create(t, dirs.mirrorDir);
  writeApp(dirs, "shop", { repo: "acme/shop" });
  const factsFile = join(dirs.dir, "facts.yaml");
  writeFileSync(factsFile, "role: web\ndatacenter: par1\n");
  const config = agentConfig(dirs, "web-1", { factsFile, classes: ["role::web"] });
  const { url, prefix } = uniqueBus();
  const conductor = await Conductor.start(t, url, prefix, join(dirs.keysDir, "conductor.key"));
  const startups = () => conductor.alive.filter((m) => m.body.host === "web-1" && m.body.event === "startup").map((m) => m.body);

  const agent = await startAgent(t, url, prefix, config);
  await waitFor(() => startups().length === 1, 10_000, "the startup message");
  const fresh = startups()[0];
  t.is(fresh?.host, "web-1");
  t.is(fresh?.agentVersion, version);
  t.deepEqual(fresh?.facts, { role: "web", datacenter: "par1" });
  t.deepEqual(fresh?.classes, ["role::web"]);
  t.deepEqual(Object.keys(fresh?.apps ?? {}), ["shop"]);
  t.is(fresh?.apps.shop?.release, null);
  t.is(fresh?.apps.shop?.sha, null);

  const sha = await repo.commit({ "index.html": "v1" }, "v1");
  const deployed = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1", sha }));
  t.is(deployed.outcome, "succeeded", deployed.reason);

  await agent.stop();
  await waitFor(() => conductor.alive.some((m) => m.body.host === "web-1" && m.body.event === "shutdown"), 10_000, "the shutdown message");
  await startAgent(t, url, prefix, config);
  await waitFor(() => startups().length === 2, 10_000, "the second startup message");
  const restarted = startups()[1];
  t.is(restarted?.apps.shop?.release, deployed.release as string);
  t.is(restarted?.apps.shop?.sha, sha);
  t.is(restarted?.apps.shop?.ref, "refs/tags/v1");
  t.not(restarted?.apps.shop?.since, null);
  t.deepEqual(restarted?.facts, { role: "web", datacenter: "par1" });
});
