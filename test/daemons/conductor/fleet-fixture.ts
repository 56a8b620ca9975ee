import { createServer } from "node:net";
import { mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ExecutionContext } from "ava";
import YAML from "yaml";
import { createToken } from "../../../daemons/conductor/api-tokens.ts";
import { conductor } from "../../../daemons/conductor/index.ts";
import type { ConductorConfig } from "../../../daemons/conductor/config.ts";
import type { DeployAgentConfig } from "../../../daemons/deploy-agent/config.ts";
import { writeKeyPair } from "../../../shared/write-key-pair.ts";
import { captureLog } from "../../helpers/capture-log.ts";
import { type DaemonProcess, spawnDaemon } from "../../helpers/spawn-daemon.ts";
import { tempDir } from "../../helpers/temp-dir.ts";
import { testBus } from "../../helpers/test-bus.ts";
import { AppRepo, agentConfig, agentDirs, type RunningAgent, spawnAgent, startAgent, writeApp } from "../deploy-agent/agent-fixture.ts";

// A real conductor with real agents (in this process, or as child processes)
// on a real bus, deploying a real git repository: what the conductor tests drive
// through the REST API, as the CLI and the web UI do.

export type Role = "viewer" | "deployer" | "admin";

export interface FleetOptions {
  url: string;
  prefix: string;
  /** Agents in this process. */
  hosts?: string[];
  /** Agents as `deploykit daemon deploy-agent` children. */
  spawned?: string[];
  /** The conductor's environments for the app `shop` (default: production, every host, no canary, one batch). */
  environments?: Record<string, unknown>[];
  /** The agents' app file additions (scripts, healthCheck…). */
  agentApp?: Record<string, unknown>;
  conductor?: Partial<ConductorConfig>;
  agent?: Partial<DeployAgentConfig>;
  /** Run the conductor as a child process (default: in this process). */
  conductorProcess?: boolean;
}

export interface ApiAnswer {
  status: number;
  body: Record<string, unknown> & { error?: { code: string; message: string } };
}

export class Fleet {
  readonly options: FleetOptions;
  readonly dir: string;
  readonly repo: AppRepo;
  readonly tokens: Record<Role, string>;
  readonly config: ConductorConfig;
  readonly agents = new Map<string, RunningAgent>();
  readonly children = new Map<string, DaemonProcess>();
  readonly agentOut = new Map<string, string>();
  readonly roots = new Map<string, string>();
  api = "";
  conductorChild: (DaemonProcess) | undefined;
  log: Record<string, unknown>[] = [];
  #stopConductor: (() => Promise<void>) | undefined;

  constructor(options: FleetOptions, dir: string, repo: AppRepo, tokens: Record<Role, string>, config: ConductorConfig) {
    this.options = options;
    this.dir = dir;
    this.repo = repo;
    this.tokens = tokens;
    this.config = config;
  }

  /** `deploykit daemon conductor` as a child process on the same ledger and port, so a test can SIGKILL it. */
  async spawnConductor(t: ExecutionContext): Promise<DaemonProcess> {
    if (this.config.port === 0) this.config.port = await freePort();
    const configFile = join(this.dir, "deploykit.yaml");
    writeFileSync(configFile, YAML.stringify({ conductor: this.config }));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DEPLOYKIT_CONFIG: configFile,
      DEPLOYKIT_BUS_URL: this.options.url,
      DEPLOYKIT_BUS_PREFIX: this.options.prefix,
      DEPLOYKIT_LOG_LEVEL: "warn",
    };
    const child = spawnDaemon(t, "conductor", env);
    const stderr = () => child.stderrText;
    this.api = `http://127.0.0.1:${this.config.port}/api/v1`;
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`the conductor exited: ${stderr()}`);
        return (await fetch(`${this.api}/health`).catch(() => undefined))?.ok === true;
      },
      20_000,
      "the conductor process to serve its API",
    );
    return child;
  }

  /** Starts (or restarts) the conductor on the same ledger and port. */
  async startConductor(t: ExecutionContext): Promise<void> {
    const bus = testBus(this.options.url, this.options.prefix);
    const { log, lines } = captureLog();
    this.log = lines;
    let api = "";
    let stop: () => Promise<void>;
    try {
      stop = await conductor.start({ config: this.config, bus, log, host: "conductor", signal: new AbortController().signal, announce: (what, url) => {
          if (what === "api") api = url;
        },
      });
    } catch (err) {
      await bus.close({ graceMs: 0 });
      throw err;
    }
    this.api = api;
    // The next start reuses the port, so a client (and the test) keeps its address.
    this.config.port = Number(new URL(api).port);
    let stopped: Promise<void> | undefined;
    this.#stopConductor = () => {
      stopped ??= stop().finally(() => bus.close({ graceMs: 0 }));
      return stopped;
    };
    t.teardown(() => this.#stopConductor?.());
  }

  async stopConductor(): Promise<void> {
    await this.#stopConductor?.();
  }

  async call(method: string, path: string, body?: unknown, role: Role | null = "admin"): Promise<ApiAnswer> {
    const headers: Record<string, string> = {};
    if (role !== null) headers.authorization = `Bearer ${this.tokens[role]}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`${this.api}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as ApiAnswer["body"]) : {} };
  }

  /** POST /deploys; fails the test unless it is accepted. */
  async deploy(t: ExecutionContext, fields: Record<string, unknown>, role: Role = "deployer"): Promise<number> {
    const answer = await this.call("POST", "/deploys", { app: "shop", environment: "production", ...fields }, role);
    t.is(answer.status, 201, JSON.stringify(answer.body));
    return (answer.body.deploy as { id: number }).id;
  }

  /** Waits until the deploy has finished; returns GET /deploys/:id. */
  async finished(id: number, timeoutMs = 45_000): Promise<DeployDetail> {
    let detail: DeployDetail | undefined;
    await waitFor(
      async () => {
        detail = (await this.call("GET", `/deploys/${id}`)).body as unknown as DeployDetail;
        return ["succeeded", "failed", "cancelled", "interrupted"].includes(detail.deploy?.state);
      },
      timeoutMs,
      `deploy ${id} to finish`,
    );
    return detail as DeployDetail;
  }

  async waitHosts(identities: readonly string[], timeoutMs = 20_000): Promise<void> {
    let missing: readonly string[] = identities;
    try {
      await waitFor(
        async () => {
          const hosts = ((await this.call("GET", "/hosts")).body.hosts ?? []) as { host: string; alive: boolean }[];
          missing = identities.filter((identity) => !hosts.some((host) => host.host === identity && host.alive));
          return missing.length === 0;
        },
        timeoutMs,
        `hosts ${identities.join(", ")} to be alive at the conductor`,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; not alive: ${missing.join(", ")}`);
    }
  }
}

export interface DeployDetail {
  deploy: { id: number; uid: string; state: string; message: string | null; sha: string; ref: string; number: number; action: string; previousSha: string | null; actor: string; forced: boolean; rollbackOf: number | null };
  hosts: { host: string; batch: number; outcome: string; unexpected: boolean; release: string | null; reason: string | null; failedStep: string | null; requestedAt: string | null }[];
  steps: { host: string; step: string; state: string; durationMs: number | null }[];
  batches: { batch: number; hosts: string[] }[];
}

/** A working repository with tags v1 and v2 (and a `main` branch), a conductor, and agents that carry `shop`. */
export async function startFleet(t: ExecutionContext, options: FleetOptions): Promise<Fleet> {
  const dir = tempDir(t, "dk-fleet-");
  const keysDir = join(dir, "keys");
  writeKeyPair(keysDir, "conductor");
  const repo = await AppRepo.create(t, join(dir, "mirrors"));
  await repo.commit({ "index.html": "v1\n" }, "v1");
  await repo.commit({ "index.html": "v2\n" }, "v2");

  const appsDir = join(dir, "conductor-apps");
  mkdirSync(appsDir, { recursive: true });
  const environments = options.environments ?? [{ name: "production", rollout: { canary: 0, batch: "100%" } }];
  writeFileSync(join(appsDir, "shop.yaml"), YAML.stringify({ url: `file://${repo.mirror}`, environments }));

  const tokensFile = join(dir, "tokens.yaml");
  const tokens = {
    viewer: createToken(tokensFile, { name: "vera", role: "viewer" }),
    deployer: createToken(tokensFile, { name: "dora", role: "deployer" }),
    admin: createToken(tokensFile, { name: "ada", role: "admin" }),
  };
  const config: ConductorConfig = {
    host: "127.0.0.1",
    port: 0,
    appsDir,
    database: `sqlite:${join(dir, "ledger.sqlite")}`,
    tokensFile,
    signingKey: join(keysDir, "conductor.key"),
    mirrorDir: join(dir, "conductor-mirrors"),
    fetchInterval: 300_000,
    fetchTimeout: 30_000,
    requestTtl: 60_000,
    hostTimeout: 30_000,
    hostExpiry: 180_000,
    logLinesPerHost: 20_000,
    uiDir: "off",
    ...options.conductor,
  };
  const fleet = new Fleet(options, dir, repo, tokens, config);
  if (options.conductorProcess) fleet.conductorChild = await fleet.spawnConductor(t);
  else await fleet.startConductor(t);

  const agentFor = (identity: string) => {
    const dirs = agentDirs(t);
    writeApp(dirs, "shop", { mirror: repo.mirror, ...options.agentApp });
    fleet.agentOut.set(identity, dirs.out);
    fleet.roots.set(identity, dirs.root);
    // Hosts announce themselves at startup and then every aliveInterval: a short
    // one means a startup message lost on a busy broker costs seconds, not a minute.
    return agentConfig(dirs, identity, { trustedKeys: [join(keysDir, "conductor.pub")], aliveInterval: 5_000, ...options.agent });
  };
  for (const identity of options.hosts ?? []) fleet.agents.set(identity, await startAgent(t, options.url, options.prefix, agentFor(identity)));
  for (const identity of options.spawned ?? []) fleet.children.set(identity, spawnAgent(t, options.url, options.prefix, agentFor(identity)));
  try {
    await fleet.waitHosts([...(options.hosts ?? []), ...(options.spawned ?? [])], 30_000);
  } catch (err) {
    for (const [identity, child] of fleet.children) t.log(`${identity} (exit ${child.exitCode ?? child.signalCode ?? "none"}) said: ${child.stderrText}`);
    for (const [identity, agent] of fleet.agents) t.log(`${identity} logged: ${agent.lines.map((line) => JSON.stringify(line)).join("\n")}`);
    t.log(`the conductor logged: ${fleet.log.map((line) => JSON.stringify(line)).join("\n")}`);
    throw err;
  }
  return fleet;
}

/** What a host's `current` holds, read from its disk: the release id and the deployed index.html. */
export function currentOf(fleet: Fleet, host: string): { release: string; content: string } | undefined {
  const root = fleet.roots.get(host);
  if (root === undefined) throw new Error(`no agent ${host} in this fleet`);
  try {
    const link = readlinkSync(join(root, "shop", "current"));
    return { release: link.split("/").at(-1) as string, content: readFileSync(join(root, "shop", "current", "index.html"), "utf8").trim() };
  } catch {
    return undefined;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
