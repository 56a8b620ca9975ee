import { type KeyObject, randomUUID } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ExecutionContext } from "ava";
import { execa } from "execa";
import YAML from "yaml";
import { deployAgent } from "../../../daemons/deploy-agent/index.ts";
import type { DeployAgentConfig } from "../../../daemons/deploy-agent/config.ts";
import type { Bus } from "../../../shared/bus/bus.ts";
import { readSigningKey, signDeployRequest, type UnsignedDeployRequest } from "../../../shared/deploy-signature.ts";
import type { BodyOf, Envelope } from "../../../shared/messages/index.ts";
import { writeKeyPair } from "../../../shared/write-key-pair.ts";
import { captureLog } from "../../helpers/capture-log.ts";
import { type DaemonProcess, spawnDaemon } from "../../helpers/spawn-daemon.ts";
import { gitEnv } from "../../helpers/git-env.ts";
import { tempDir as makeTempDir } from "../../helpers/temp-dir.ts";
import { rawTransport, testBus, transportReady, uniquePrefix, waitFor } from "../../helpers/test-bus.ts";
import { routeName } from "../../../shared/bus/destinations.ts";

// A real deploy agent (in this process, or as `deploykit daemon deploy-agent`)
// with real git repositories, real scripts and a real bus, for the agent tests.


export function tempDir(t: ExecutionContext, prefix = "dk-agent-"): string {
  return makeTempDir(t, prefix);
}

/** A file of a commit: text, or text with a mode (0o755 for a script). */
export type RepoFiles = Record<string, string | { content: string; mode: number }>;

/** A script that records its step's environment and arguments under $TEST_OUT, prints two lines, then does what $TEST_<STEP> says. */
export const recordingScript = `#!/bin/sh
step="$DEPLOYKIT_STEP"
echo $$ > "$TEST_OUT/$step.pid"
env > "$TEST_OUT/$step.env"
echo "$@" > "$TEST_OUT/$step.args"
id -u > "$TEST_OUT/$step.uid"
pwd > "$TEST_OUT/$step.cwd"
echo "$step says hello"
echo "$step to stderr" >&2
if [ -e "$TEST_OUT/fail-$step" ]; then echo "$step fails on purpose" >&2; exit 3; fi
if [ -e "$TEST_OUT/block-$step" ]; then touch "$TEST_OUT/blocked-$step"; sleep 600; fi
exit 0
`;

/** A working repository pushed to a bare mirror laid out as repo-fetcher keeps it. */
export class AppRepo {
  readonly work: string;
  readonly mirror: string;
  constructor(work: string, mirror: string) {
    this.work = work;
    this.mirror = mirror;
  }

  static async create(t: ExecutionContext, mirrorDir: string, name = "acme/shop"): Promise<AppRepo> {
    const work = join(tempDir(t, "dk-agent-src-"), "work");
    const mirror = join(mirrorDir, `${name}.git`);
    mkdirSync(dirname(mirror), { recursive: true });
    await execa("git", ["init", "--quiet", "--initial-branch=main", work], { env: gitEnv });
    await execa("git", ["init", "--quiet", "--bare", mirror], { env: gitEnv });
    return new AppRepo(work, mirror);
  }

  async git(args: string[]): Promise<string> {
    return (await execa("git", args, { cwd: this.work, env: gitEnv })).stdout;
  }

  /** Commits these files on main (and tags the commit when a tag is given); returns the commit id. */
  async commit(files: RepoFiles, tag?: string): Promise<string> {
    for (const [path, file] of Object.entries(files)) {
      const full = join(this.work, path);
      mkdirSync(dirname(full), { recursive: true });
      const { content, mode } = typeof file === "string" ? { content: file, mode: 0o644 } : file;
      writeFileSync(full, content);
      chmodSync(full, mode);
    }
    await this.git(["add", "--all"]);
    await this.git(["commit", "--quiet", "--allow-empty", "-m", `commit ${randomUUID()}`]);
    if (tag) await this.git(["tag", "-a", "-m", tag, tag]);
    await this.git(["push", "--quiet", "--force", this.mirror, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]);
    return this.git(["rev-parse", "HEAD"]);
  }
}

export type ResultBody = BodyOf<"deploy.results">;

/** The environment a recording script saw in a step ($TEST_OUT/<step>.env). */
export function envOf(out: string, step: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(join(out, `${step}.env`), "utf8")
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
}

export interface AgentDirs {
  dir: string;
  appsDir: string;
  root: string;
  stateDir: string;
  mirrorDir: string;
  keysDir: string;
  /** World-writable: scripts running as `nobody` leave their evidence here. */
  out: string;
}

export function agentDirs(t: ExecutionContext): AgentDirs {
  const dir = tempDir(t);
  const dirs: AgentDirs = {
    dir,
    appsDir: join(dir, "apps.d"),
    root: join(dir, "srv"),
    stateDir: join(dir, "state"),
    mirrorDir: join(dir, "mirrors"),
    keysDir: join(dir, "keys"),
    out: join(dir, "out"),
  };
  for (const path of [dirs.appsDir, dirs.root, dirs.mirrorDir, dirs.out]) mkdirSync(path, { recursive: true });
  chmodSync(dir, 0o755);
  chmodSync(dirs.out, 0o777);
  writeKeyPair(dirs.keysDir, "conductor");
  return dirs;
}

export function writeApp(dirs: AgentDirs, app: string, config: Record<string, unknown>): void {
  writeFileSync(join(dirs.appsDir, `${app}.yaml`), YAML.stringify({ root: dirs.root, user: "nobody", environment: { TEST_OUT: dirs.out }, ...config }));
}

export function agentConfig(dirs: AgentDirs, identity: string, overrides: Partial<DeployAgentConfig> = {}): DeployAgentConfig {
  return {
    identity,
    appsDir: dirs.appsDir,
    trustedKeys: [join(dirs.keysDir, "conductor.pub")],
    stateDir: dirs.stateDir,
    mirrorDir: dirs.mirrorDir,
    factsFile: "",
    facter: false,
    classesFile: "",
    classes: [],
    aliveInterval: 60_000,
    maxTtl: 300_000,
    clockSkew: 30_000,
    stepTimeout: 30_000,
    inactivityTimeout: 20_000,
    minFreeMegabytes: 1,
    maxArtifactMegabytes: 64,
    ...overrides,
  };
}

/** The conductor's side of the bus: signs and publishes requests, collects what agents say. */
export class Conductor {
  readonly bus: Bus;
  readonly key: KeyObject;
  readonly results: Envelope<ResultBody>[] = [];
  readonly progress: Envelope<BodyOf<"deploy.progress">>[] = [];
  readonly alive: Envelope<BodyOf<"hosts.alive">>[] = [];

  constructor(bus: Bus, key: KeyObject) {
    this.bus = bus;
    this.key = key;
  }

  static async start(t: ExecutionContext, url: string, prefix: string, keyFile: string): Promise<Conductor> {
    const bus = testBus(url, prefix);
    t.teardown(() => bus.close({ graceMs: 0 }));
    const conductor = new Conductor(bus, readSigningKey(keyFile));
    await bus.subscribe("deploy.results", (message) => void conductor.results.push(message));
    await bus.subscribe("deploy.progress", (message) => void conductor.progress.push(message));
    await bus.subscribe("hosts.alive", (message) => void conductor.alive.push(message));
    return conductor;
  }

  /** Signs and publishes a request (deployId, ttl, target filled when absent); returns its deployId. */
  async send(fields: Partial<UnsignedDeployRequest> & Pick<UnsignedDeployRequest, "app">, key = this.key): Promise<string> {
    const deployId = (fields.deployId as string | undefined) ?? `d-${randomUUID().slice(0, 8)}`;
    const request = signDeployRequest({ deployId, environment: "production", target: {}, ttl: 60, ...fields }, key);
    await this.bus.publish("deploy.requests", request);
    return deployId;
  }

  /** Publishes a (schema-valid) body as it is: for forged and tampered requests. */
  async sendRaw(body: Record<string, unknown>): Promise<void> {
    await this.bus.publish("deploy.requests", body as never);
  }

  /** Sends an envelope the bus itself would refuse to publish, straight through a transport. */
  async sendInvalid(t: ExecutionContext, url: string, prefix: string, body: Record<string, unknown>): Promise<void> {
    const raw = rawTransport(url);
    t.teardown(() => raw.close());
    await transportReady(raw);
    const envelope = { type: "deploy.requests.v1", id: randomUUID(), time: new Date().toISOString(), source: { component: "evil", host: "h" }, correlationId: randomUUID(), body };
    await raw.publish(JSON.stringify(envelope), { route: routeName(prefix, "deploy.requests"), headers: {}, confirm: true });
  }

  async result(deployId: string, host?: string, timeoutMs = 30_000): Promise<ResultBody> {
    const match = (m: Envelope<ResultBody>) => m.body.deployId === deployId && (host === undefined || m.body.host === host);
    await waitFor(() => this.results.some(match), timeoutMs, `deploy.results for ${deployId}${host ? ` from ${host}` : ""}`);
    return (this.results.find(match) as Envelope<ResultBody>).body;
  }

  steps(deployId: string, host?: string): string[] {
    return this.progress
      .filter((m) => m.body.deployId === deployId && (host === undefined || m.body.host === host) && m.body.state !== "running")
      .sort((a, b) => a.body.seq - b.body.seq)
      .map((m) => `${m.body.step}:${m.body.state}`);
  }

  lines(deployId: string, step?: string): string[] {
    return this.progress
      .filter((m) => m.body.deployId === deployId && (step === undefined || m.body.step === step))
      .sort((a, b) => a.body.seq - b.body.seq)
      .flatMap((m) => m.body.lines.map((line) => line.text));
  }
}

export interface RunningAgent {
  lines: Record<string, unknown>[];
  stop(): Promise<void>;
}

/** The agent daemon in this process, on its own bus connection. */
export async function startAgent(t: ExecutionContext, url: string, prefix: string, config: DeployAgentConfig): Promise<RunningAgent> {
  const bus = testBus(url, prefix);
  const { log, lines } = captureLog();
  let stopDaemon: () => Promise<void>;
  try {
    stopDaemon = await deployAgent.start({ config, bus, log, host: config.identity, signal: new AbortController().signal, announce: () => {} });
  } catch (err) {
    await bus.close({ graceMs: 0 });
    throw err;
  }
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= stopDaemon().finally(() => bus.close({ graceMs: 0 }));
    return stopped;
  };
  t.teardown(stop);
  return { lines, stop };
}

/** `deploykit daemon deploy-agent` as a child process, so a test can SIGKILL it. */
export function spawnAgent(t: ExecutionContext, url: string, prefix: string, config: DeployAgentConfig): DaemonProcess {
  // An empty file: nothing from /etc/deploykit on this machine gets in.
  const configFile = join(dirname(config.stateDir), "deploykit.yaml");
  writeFileSync(configFile, "");
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DEPLOYKIT_CONFIG: configFile,
    DEPLOYKIT_BUS_URL: url,
    DEPLOYKIT_BUS_PREFIX: prefix,
    DEPLOYKIT_LOG_LEVEL: "warn",
    DEPLOYKIT_DEPLOY_AGENT_IDENTITY: config.identity,
    DEPLOYKIT_DEPLOY_AGENT_APPS_DIR: config.appsDir,
    DEPLOYKIT_DEPLOY_AGENT_TRUSTED_KEYS: config.trustedKeys.join(","),
    DEPLOYKIT_DEPLOY_AGENT_STATE_DIR: config.stateDir,
    DEPLOYKIT_DEPLOY_AGENT_MIRROR_DIR: config.mirrorDir,
    DEPLOYKIT_DEPLOY_AGENT_FACTS_FILE: "",
    DEPLOYKIT_DEPLOY_AGENT_FACTER: "false",
    DEPLOYKIT_DEPLOY_AGENT_CLASSES_FILE: "",
    DEPLOYKIT_DEPLOY_AGENT_MIN_FREE_MEGABYTES: "1",
    DEPLOYKIT_DEPLOY_AGENT_STEP_TIMEOUT: "30s",
  };
  return spawnDaemon(t, "deploy-agent", env);
}

export function uniqueBus(): { url: string; prefix: string } {
  return { url: `memory://${uniquePrefix()}`, prefix: uniquePrefix() };
}
