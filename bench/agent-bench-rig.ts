// What bench/agent runs: an embedded broker in this process, a real
// repository with one tag per deploy in a repo-fetcher-style mirror, the
// deploy agent (a `deploykit daemon deploy-agent` child, or in this process),
// the conductor's side of the bus, and the same deploy done by a plain shell
// script. Built on the agent tests' fixture, so the bench deploys what the
// tests deploy.
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { ExecutionContext } from "ava";
import pino from "pino";
import { deployAgent } from "../daemons/deploy-agent/index.ts";
import type { Bus } from "../shared/bus/bus.ts";
import { readSigningKey, signDeployRequest } from "../shared/deploy-signature.ts";
import type { BodyOf, Envelope } from "../shared/messages/index.ts";
import { type AgentDirs, AppRepo, agentConfig, agentDirs, spawnAgent, writeApp } from "../test/daemons/deploy-agent/agent-fixture.ts";
import { startTestBroker } from "../test/helpers/embedded-broker.ts";
import { testBus, uniquePrefix } from "../test/helpers/test-bus.ts";

const trivialScript = "#!/bin/sh\nexit 0\n";

/** A small app: a few files, deploykit.yml with both hooks and a restart, each a script that exits 0. */
const repoFiles = {
  "bin/pre-link": { content: trivialScript, mode: 0o755 },
  "bin/post-deploy": { content: trivialScript, mode: 0o755 },
  "bin/restart": { content: trivialScript, mode: 0o755 },
  "deploykit.yml": "scripts:\n  pre-link: bin/pre-link\n  post-deploy: bin/post-deploy\nrestart: bin/restart\n",
  "public/index.html": "<!doctype html><title>shop</title><h1>shop</h1>\n",
  "src/server.js": "import { createServer } from 'node:http';\ncreateServer((_, res) => res.end('ok')).listen(8080);\n",
  "README.md": "# shop\n\nThe bench's app.\n",
};

// The same deploy without deploykit; argv only: mirror sha appDir releaseId.
const shellDeploy = `#!/bin/sh
set -e
mirror="$1" sha="$2" app="$3" id="$4"
mkdir -p "$app/releases/$id"
git --git-dir="$mirror" archive --format=tar "$sha" | tar -x -C "$app/releases/$id"
cd "$app/releases/$id"
./bin/pre-link
cd "$app"
ln -s "releases/$id" current.tmp && mv -T current.tmp current
cd "$app/releases/$id"
./bin/restart
./bin/post-deploy
`;

export type ProgressBody = BodyOf<"deploy.progress">;
export type ResultBody = BodyOf<"deploy.results">;

export interface Tag {
  tag: string;
  sha: string;
}

export interface AgentDeploySample {
  /** From before signing to the deploy.results message in this process's handler. */
  wallMs: number;
  /** Signing and publishing the request until the broker's receipt. */
  publishMs: number;
  /** Wall-clock time (ms since the epoch) the bench started the deploy, for the envelopes' times. */
  startedAt: number;
  result: Envelope<ResultBody>;
  progress: Envelope<ProgressBody>[];
  /** Requests refused as "another deploy is running" before this one was taken. */
  busy: number;
}

export interface AgentBenchRig {
  tags: Tag[];
  /** Files in each tagged commit. */
  files: number;
  agentPid(): number | undefined;
  /** Waits for the agent's hosts.alive startup message. */
  agentStarted(timeoutMs: number): Promise<void>;
  deployWithAgent(tag: Tag): Promise<AgentDeploySample>;
  deployWithShell(tag: Tag, n: number): Promise<number>;
  /** Stops the child agent and runs the agent in this process instead. */
  moveAgentInProcess(): Promise<void>;
  stop(): Promise<void>;
}

/** The fixture wants ava's context only to register clean-ups: the bench runs them itself in stop(). */
function cleanupContext(): { t: ExecutionContext; cleanup(): Promise<void> } {
  const teardowns: (() => unknown)[] = [];
  const t = { teardown: (fn: () => unknown) => void teardowns.push(fn) } as unknown as ExecutionContext;
  return {
    t,
    async cleanup() {
      for (const fn of teardowns.reverse()) await Promise.resolve(fn()).catch(() => undefined);
    },
  };
}

async function makeTags(repo: AppRepo, count: number): Promise<Tag[]> {
  await repo.commit(repoFiles);
  const tags: Tag[] = [];
  for (let i = 0; i < count; i++) {
    writeFileSync(join(repo.work, "VERSION"), `1.0.${i}\n`);
    await repo.git(["add", "VERSION"]);
    await repo.git(["commit", "--quiet", "-m", `release 1.0.${i}`]);
    await repo.git(["tag", "-a", "-m", `v1.0.${i}`, `v1.0.${i}`]);
    tags.push({ tag: `v1.0.${i}`, sha: await repo.git(["rev-parse", "HEAD"]) });
  }
  await repo.git(["push", "--quiet", "--force", repo.mirror, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]);
  return tags;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

export async function startAgentBenchRig(options: { tagCount: number; identity: string }): Promise<AgentBenchRig> {
  const { t, cleanup } = cleanupContext();
  const broker = await startTestBroker();
  t.teardown(() => broker.close());
  try {
    const dirs: AgentDirs = agentDirs(t);
    const repo = await AppRepo.create(t, dirs.mirrorDir);
    const tags = await makeTags(repo, options.tagCount);
    // user root: the shell script runs as root too, so neither pays for a user switch.
    writeApp(dirs, "shop", { repo: "acme/shop", user: "root", environment: {} });
    const shellDir = join(dirs.dir, "shell");
    const shellApp = join(shellDir, "shop");
    mkdirSync(join(shellApp, "releases"), { recursive: true });
    const shellScript = join(shellDir, "deploy.sh");
    writeFileSync(shellScript, shellDeploy, { mode: 0o755 });

    const prefix = uniquePrefix();
    const config = agentConfig(dirs, options.identity);
    const bus: Bus = testBus(broker.url, prefix);
    t.teardown(() => bus.close({ graceMs: 0 }));
    const key = readSigningKey(join(dirs.keysDir, "conductor.key"));
    const pending = new Map<string, (message: Envelope<ResultBody>, receivedAt: number) => void>();
    const progress = new Map<string, Envelope<ProgressBody>[]>();
    const startups: string[] = [];
    await bus.subscribe("deploy.results", (message) => pending.get(message.body.deployId)?.(message, performance.now()));
    await bus.subscribe("deploy.progress", (message) => void progress.get(message.body.deployId)?.push(message));
    await bus.subscribe("hosts.alive", (message) => {
      if (message.body.event === "startup") startups.push(message.body.host);
    });

    let child: (ChildProcess & { stderrText: string }) | undefined = spawnAgent(t, broker.url, prefix, config);
    let stopInProcess: (() => Promise<void>) | undefined;
    t.teardown(() => stopInProcess?.());

    const deployOnce = async (tag: Tag): Promise<Omit<AgentDeploySample, "busy">> => {
      const deployId = `bench-${randomUUID().slice(0, 8)}`;
      const lines: Envelope<ProgressBody>[] = [];
      progress.set(deployId, lines);
      const got = new Promise<{ message: Envelope<ResultBody>; at: number }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no deploy.results for ${tag.tag} (${deployId}) within 30 s`)), 30_000);
        pending.set(deployId, (message, at) => {
          clearTimeout(timer);
          resolve({ message, at });
        });
      });
      const startedAt = Date.now();
      const start = performance.now();
      const request = signDeployRequest(
        { deployId, app: "shop", environment: "production", target: {}, ttl: 60, ref: `refs/tags/${tag.tag}`, sha: tag.sha, actor: "bench" },
        key,
      );
      await bus.publish("deploy.requests", request);
      const publishMs = performance.now() - start;
      const { message, at } = await got;
      pending.delete(deployId);
      progress.delete(deployId);
      return { wallMs: at - start, publishMs, startedAt, result: message, progress: lines };
    };

    return {
      tags,
      files: Object.keys(repoFiles).length + 1,
      agentPid: () => child?.pid,
      async agentStarted(timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        while (!startups.includes(options.identity)) {
          if (child && child.exitCode !== null) {
            throw new Error(`the agent exited with code ${child.exitCode}: ${child.stderrText}`);
          }
          if (Date.now() > deadline) throw new Error(`no hosts.alive startup from ${options.identity} within ${timeoutMs} ms`);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      },
      async deployWithAgent(tag) {
        // The agent publishes a deploy's result before it marks the app free (it waits for the broker's
        // receipt first), so a request sent the moment the result arrives can be refused as busy: resend it.
        for (let busy = 0; ; busy++) {
          const sample = await deployOnce(tag);
          const { outcome, reason, failedStep } = sample.result.body;
          if (outcome === "succeeded") return { ...sample, busy };
          if (outcome !== "refused" || !/another deploy of/.test(reason ?? "") || busy >= 50) {
            throw new Error(`deploy of ${tag.tag}: ${outcome}${failedStep ? ` at ${failedStep}` : ""}: ${reason}`);
          }
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
      },
      async deployWithShell(tag, n) {
        const start = performance.now();
        const run = spawn("/bin/sh", [shellScript, repo.mirror, tag.sha, shellApp, `${n}-${tag.sha.slice(0, 12)}`], {
          env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
          stdio: ["ignore", "ignore", "pipe"],
        });
        let stderr = "";
        run.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString("utf8");
        });
        const code = await new Promise<number | null>((resolve, reject) => {
          run.once("error", reject);
          run.once("close", resolve);
        });
        const ms = performance.now() - start;
        if (code !== 0) throw new Error(`the shell deploy of ${tag.tag} exited with ${code}: ${stderr.trim()}`);
        return ms;
      },
      async moveAgentInProcess() {
        if (child) {
          child.kill("SIGTERM");
          await exited(child);
          child = undefined;
        }
        // Its own bus connection and a logger at the child's level (warn), as the daemon would have.
        const agentBus = testBus(broker.url, prefix);
        startups.length = 0;
        const stopDaemon = await deployAgent.start({
          config,
          bus: agentBus,
          log: pino({ level: "warn" }, pino.destination(2)),
          host: config.identity,
          signal: new AbortController().signal,
          announce: () => {},
        });
        stopInProcess = () => stopDaemon().finally(() => agentBus.close({ graceMs: 0 }));
      },
      async stop() {
        if (child && child.exitCode === null) {
          child.kill("SIGTERM");
          await exited(child);
        }
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
