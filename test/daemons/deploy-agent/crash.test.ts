import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { execa } from "execa";
import { startTestBroker } from "../../helpers/embedded-broker.ts";
import { uniquePrefix, waitFor } from "../../helpers/test-bus.ts";
import { type AgentDirs, AppRepo, agentConfig, agentDirs, Conductor, recordingScript, spawnAgent, writeApp } from "./agent-fixture.ts";

// SIGKILL of the agent process in the middle of each step: `current` must
// still point at a complete release, and the restarted agent must clean up,
// release the lock, answer the interrupted deploy and tell the truth in its
// startup message. The agent runs as `deploykit daemon deploy-agent` on the
// embedded broker, so the kill is a real one.

const broker = await startTestBroker();
test.after.always(() => broker.close());

const hookFile = { content: recordingScript, mode: 0o755 };
const repoFiles = {
  "bin/hook": hookFile,
  "deploykit.yml": "scripts:\n  pre-link: bin/hook\n  post-deploy: bin/hook\nrestart: bin/hook\nhealthCheck:\n  command: [bin/hook]\n  retries: 0\n",
};

/** The release `current` points at must be whole: its tree, its metadata and the file every release has. */
function assertCurrentWhole(t: ExecutionContext, appDir: string, expected: string): string {
  const target = readlinkSync(join(appDir, "current"));
  const id = target.replace(/^releases\//, "");
  t.true(existsSync(join(appDir, "releases", `${id}.json`)), `metadata of ${id}`);
  t.is(readFileSync(join(appDir, "current", "index.html"), "utf8"), expected);
  return id;
}

/** Scripts the killed agent left running (they have their own process group) are stopped by the test, not by the agent. */
function killLeftovers(out: string): void {
  for (const file of readdirSync(out).filter((name) => name.endsWith(".pid"))) {
    try {
      process.kill(-Number(readFileSync(join(out, file), "utf8").trim()), "SIGKILL");
    } catch {
      // already gone
    }
  }
}

type RequestFor = (sha: string) => Record<string, unknown> | Promise<Record<string, unknown>>;

async function crashCase(t: ExecutionContext, step: string, setup: (dirs: AgentDirs, repo: AppRepo) => Promise<{ app: Record<string, unknown>; request: RequestFor }>) {
  const dirs = agentDirs(t);
  t.teardown(() => killLeftovers(dirs.out));
  const repo = await AppRepo.create(t, dirs.mirrorDir);
  const { app, request } = await setup(dirs, repo);
  writeApp(dirs, "shop", { repo: "acme/shop", ...app });
  const prefix = uniquePrefix();
  const conductor = await Conductor.start(t, broker.url, prefix, join(dirs.keysDir, "conductor.key"));
  const config = agentConfig(dirs, "web-1");
  const appDir = join(dirs.root, "shop");

  let agent = spawnAgent(t, broker.url, prefix, config);
  await waitFor(() => conductor.alive.some((m) => m.body.event === "startup"), 20_000, `the agent's startup message (${agent.stderrText})`);
  const v1 = await repo.commit({ ...repoFiles, "index.html": "v1" }, "v1");
  const first = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1", ...(await request(v1)) }));
  t.is(first.outcome, "succeeded", first.reason);

  const v2 = await repo.commit({ ...repoFiles, "index.html": "v2" }, "v2");
  writeFileSync(join(dirs.out, `block-${step}`), "");
  const deployId = await conductor.send({ app: "shop", ref: "refs/tags/v2", ...(await request(v2)) });
  await waitFor(() => existsSync(join(dirs.out, `blocked-${step}`)), 20_000, `the deploy to block in ${step}`);
  agent.kill("SIGKILL");
  await new Promise((resolve) => agent.once("exit", resolve));

  const linked = ["restart", "post-deploy", "verify"].includes(step);
  const current = assertCurrentWhole(t, appDir, linked ? "v2" : "v1");
  t.is(current === first.release, !linked, "current is the old release before link, the new one after");

  if (step === "fetch") t.true(readdirSync(join(appDir, "releases")).some((name) => name.endsWith(".partial")), "the kill left a half-written release");
  rmSync(join(dirs.out, `block-${step}`));
  const startups = conductor.alive.filter((m) => m.body.event === "startup").length;
  agent = spawnAgent(t, broker.url, prefix, config);
  await waitFor(() => conductor.alive.filter((m) => m.body.event === "startup").length > startups, 20_000, `the restarted agent's startup message (${agent.stderrText})`);
  const startup = conductor.alive.filter((m) => m.body.event === "startup").at(-1)?.body as Record<string, unknown> & { apps: Record<string, { release: string | null }> };
  t.is(startup.apps.shop?.release, current, "the startup message reports the release current points at");
  t.deepEqual(
    (startup.interrupted as { deployId: string }[]).map((entry) => entry.deployId),
    [deployId],
    "the interrupted deploy is named",
  );
  const answer = await conductor.result(deployId);
  t.is(answer.outcome, "failed");
  t.regex(answer.reason ?? "", /interrupted/);
  t.deepEqual(
    readdirSync(join(appDir, "releases")).filter((name) => /\.(partial|removing)$|tmp/.test(name)),
    [],
    "no half-written release is left",
  );

  const v3 = await repo.commit({ ...repoFiles, "index.html": "v3" }, "v3");
  const third = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v3", ...(await request(v3)) }));
  t.is(third.outcome, "succeeded", `the lock was released: ${third.reason}`);
  assertCurrentWhole(t, appDir, "v3");
  agent.kill("SIGTERM");
  await new Promise((resolve) => agent.once("exit", resolve));
}

const gitRequest: RequestFor = (sha) => ({ sha });

test("SIGKILL at random moments of whole deploys (preflight, fetch and link included): current is always whole", async (t) => {
  const dirs = agentDirs(t);
  const repo = await AppRepo.create(t, dirs.mirrorDir);
  writeApp(dirs, "shop", { repo: "acme/shop", keep: 3 });
  const prefix = uniquePrefix();
  const conductor = await Conductor.start(t, broker.url, prefix, join(dirs.keysDir, "conductor.key"));
  const config = agentConfig(dirs, "web-1");
  const appDir = join(dirs.root, "shop");
  const files = { "index.html": "v0", "deploykit.yml": "restart: [/bin/true]\n" };
  const startups = () => conductor.alive.filter((m) => m.body.event === "startup").length;
  let agent = spawnAgent(t, broker.url, prefix, config);
  await waitFor(() => startups() === 1, 20_000, "the agent's startup message");
  const first = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v0", sha: await repo.commit(files, "v0") }));
  t.is(first.outcome, "succeeded", first.reason);
  const versions = new Set(["v0"]);
  for (let round = 1; round <= 8; round++) {
    const version = `v${round}`;
    versions.add(version);
    const sha = await repo.commit({ ...files, "index.html": version }, version);
    await conductor.send({ app: "shop", ref: `refs/tags/${version}`, sha });
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 150));
    agent.kill("SIGKILL");
    await new Promise((resolve) => agent.once("exit", resolve));
    const content = readFileSync(join(appDir, "current", "index.html"), "utf8");
    t.true(versions.has(content), `current shows a whole release (${content})`);
    assertCurrentWhole(t, appDir, content);
    const before = startups();
    agent = spawnAgent(t, broker.url, prefix, config);
    await waitFor(() => startups() > before, 20_000, "the restarted agent's startup message");
    t.deepEqual(readdirSync(join(appDir, "releases")).filter((name) => /\.(partial|removing)$|tmp/.test(name)), [], `round ${round}: no debris after restart`);
  }
  const last = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v8", sha: await repo.git(["rev-parse", "v8^{commit}"]) }));
  t.is(last.outcome, "succeeded", `the agent still deploys after eight kills: ${last.reason}`);
  agent.kill("SIGTERM");
  await new Promise((resolve) => agent.once("exit", resolve));
});

for (const step of ["pre-link", "restart", "post-deploy", "verify"]) {
  test(`SIGKILL during ${step}: current stays whole and the restarted agent reports the truth`, (t) => crashCase(t, step, async () => ({ app: {}, request: gitRequest })));
}

test("SIGKILL during pre-fetch: current stays whole and the restarted agent reports the truth", (t) =>
  crashCase(t, "pre-fetch", async (dirs) => {
    const control = join(dirs.dir, "control");
    mkdirSync(control, { mode: 0o755 });
    writeFileSync(join(control, "hook"), recordingScript, { mode: 0o755 });
    return { app: { scripts: { "pre-fetch": [join(control, "hook")] } }, request: gitRequest };
  }));

test("SIGKILL during fetch (an artifact download that stalls halfway): the partial release is removed at restart", (t) =>
  crashCase(t, "fetch", async (dirs, repo) => ({ app: { strategy: "artifact" }, request: await artifactServer(t, dirs, repo) })));

/**
 * Serves each commit of the app as a tar.gz (git archive of the mirror, as a
 * build would pack it); while $TEST_OUT/block-fetch exists it sends half of
 * it, marks blocked-fetch and stalls.
 */
async function artifactServer(t: ExecutionContext, dirs: AgentDirs, repo: AppRepo) {
  const artifacts = new Map<string, Buffer>();
  const server = http.createServer((request, response) => {
    const body = artifacts.get(request.url?.slice(1) ?? "");
    if (!body) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "content-length": String(body.length) });
    if (existsSync(join(dirs.out, "block-fetch"))) {
      response.write(body.subarray(0, body.length >> 1));
      writeFileSync(join(dirs.out, "blocked-fetch"), "");
      return;
    }
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  return async (sha: string) => {
    const name = `shop-${sha.slice(0, 12)}.tar.gz`;
    const { stdout } = await execa("git", [`--git-dir=${repo.mirror}`, "archive", "--format=tar.gz", sha], { encoding: "buffer" });
    const body = Buffer.from(stdout);
    artifacts.set(name, body);
    return { artifact: { url: `http://127.0.0.1:${port}/${name}`, sha256: createHash("sha256").update(body).digest("hex") } };
  };
}
