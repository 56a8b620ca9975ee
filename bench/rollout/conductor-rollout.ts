// deploykit's side: the conductor daemon in this process (startDaemon, as
// `deploykit up` runs it), with the bench app in its apps.d, an admin token,
// and the agents' trusted key as its signing key. A rollout is what an
// operator does: POST /api/v1/deploys, then watch the deploy until it has
// finished; the per-host timings come from GET /api/v1/deploys/:id.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import YAML from "yaml";
import { createToken } from "../../daemons/conductor/api-tokens.ts";
import { conductor } from "../../daemons/conductor/index.ts";
import { readConfig } from "../../shared/config/read-config.ts";
import { type AllConfig, configSections, type RunningDaemon, startDaemon } from "../../shared/run-daemon.ts";
import type { BenchTag } from "./bench-repo.ts";
import { benchApp } from "./host-dirs.ts";
import type { HostTiming } from "./rollout-figures.ts";

export interface ConductorRolloutOptions {
  base: string;
  busUrl: string;
  prefix: string;
  /** The private half of the key every agent trusts. */
  signingKey: string;
  /** The app's repository, as the conductor fetches it (file://...). */
  repoUrl: string;
  batch: number;
  /** conductor.database; empty: SQLite in the bench's temp directory. */
  database: string;
}

interface Deploy {
  id: number;
  state: "queued" | "running" | "succeeded" | "failed" | "cancelled" | "interrupted";
  message: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

interface DeployDetail {
  deploy: Deploy;
  hosts: { host: string; batch: number; outcome: string; reason: string | null; requestedAt: string | null; finishedAt: string | null; durationMs: number | null }[];
  steps: { host: string; step: string; state: string; startedAt: string; finishedAt: string | null; durationMs: number | null }[];
}

export interface ConductorRun {
  /** POST sent → the deploy seen finished by polling (every pollMs). */
  wallMs: number;
  /** The deploy's own createdAt → finishedAt, in the ledger. */
  ledgerMs: number;
  timings: HostTiming[];
  deployId: number;
  /** POST sent → the first batch's request went out; the last answer in → the poll saw the deploy finished. */
  startMs: number;
  endMs: number;
}

const finished = new Set(["succeeded", "failed", "cancelled", "interrupted"]);

export class ConductorRollout {
  readonly daemon: RunningDaemon;
  readonly api: string;
  readonly #token: string;

  constructor(daemon: RunningDaemon, api: string, token: string) {
    this.daemon = daemon;
    this.api = api;
    this.#token = token;
  }

  static async start(options: ConductorRolloutOptions): Promise<ConductorRollout> {
    const dir = join(options.base, "conductor");
    const appsDir = join(dir, "apps.d");
    mkdirSync(appsDir, { recursive: true });
    const app = {
      url: options.repoUrl,
      environments: [{ name: "production", target: {}, rollout: { canary: 0, batch: options.batch, failureBudget: 0 } }],
    };
    writeFileSync(join(appsDir, `${benchApp}.yaml`), YAML.stringify(app));
    const tokensFile = join(dir, "tokens.yaml");
    const token = createToken(tokensFile, { name: "bench", role: "admin" });
    // An empty file, so nothing from /etc/deploykit on this machine gets in.
    const configFile = join(dir, "deploykit.yaml");
    writeFileSync(configFile, "");
    const { values } = readConfig(configSections([conductor]), {
      file: configFile,
      env: {
        DEPLOYKIT_BUS_URL: options.busUrl,
        DEPLOYKIT_BUS_PREFIX: options.prefix,
        DEPLOYKIT_DATA_DIR: dir,
        DEPLOYKIT_SPOOL_DIR: "",
        DEPLOYKIT_CONDUCTOR_HOST: "127.0.0.1",
        DEPLOYKIT_CONDUCTOR_PORT: "0",
        DEPLOYKIT_CONDUCTOR_APPS_DIR: appsDir,
        DEPLOYKIT_CONDUCTOR_DATABASE: options.database || `sqlite:${join(dir, "ledger.sqlite")}`,
        DEPLOYKIT_CONDUCTOR_TOKENS_FILE: tokensFile,
        DEPLOYKIT_CONDUCTOR_SIGNING_KEY: options.signingKey,
        DEPLOYKIT_CONDUCTOR_MIRROR_DIR: join(dir, "mirrors"),
      },
    });
    const daemon = await startDaemon(conductor, values as AllConfig, pino({ level: "warn" }, pino.destination(2)));
    const api = daemon.urls.find((url) => url.what === "api")?.url;
    if (api === undefined) {
      await daemon.stop();
      throw new Error("the conductor started but announced no api URL");
    }
    return new ConductorRollout(daemon, api, token);
  }

  async call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.api}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.#token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status}: ${text.slice(0, 500)}`);
    return JSON.parse(text) as T;
  }

  /** Waits until GET /hosts lists every one of these hosts alive. */
  async waitForHosts(hosts: readonly string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { hosts: listed } = await this.call<{ hosts: { host: string; alive: boolean }[] }>("GET", "/hosts");
      const alive = new Set(listed.filter((host) => host.alive).map((host) => host.host));
      const missing = hosts.filter((host) => !alive.has(host));
      if (missing.length === 0) return;
      if (Date.now() > deadline) throw new Error(`the conductor lists ${hosts.length - missing.length} of ${hosts.length} hosts alive after ${timeoutMs} ms (missing ${missing.slice(0, 5).join(", ")}...)`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * Deploys the tag through the API and polls until it has finished. The poll
   * is the deploy list (one small row), not GET /deploys/:id, whose steps for
   * 200 hosts would make the poll itself a load on the conductor.
   */
  async run(tag: BenchTag, pollMs = 50, timeoutMs = 600_000): Promise<ConductorRun> {
    const started = performance.now();
    const postedAt = Date.now();
    const { deploy } = await this.call<{ deploy: Deploy }>("POST", "/deploys", { app: benchApp, environment: "production", ref: tag.tag });
    let state: Deploy = deploy;
    while (!finished.has(state.state)) {
      if (performance.now() - started > timeoutMs) throw new Error(`deploy ${deploy.id} of ${tag.tag} is still ${state.state} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, pollMs));
      const { deploys } = await this.call<{ deploys: Deploy[] }>("GET", `/deploys?app=${benchApp}&environment=production&limit=5`);
      state = deploys.find((candidate) => candidate.id === deploy.id) ?? state;
    }
    const wallMs = performance.now() - started;
    const seenAt = Date.now();
    const detail = await this.call<DeployDetail>("GET", `/deploys/${deploy.id}`);
    if (detail.deploy.state !== "succeeded") throw new Error(`deploy ${deploy.id} of ${tag.tag} ${detail.deploy.state}: ${detail.deploy.message}`);
    const failed = detail.hosts.filter((host) => host.outcome !== "succeeded");
    if (failed.length > 0) throw new Error(`deploy ${deploy.id}: ${failed.length} hosts did not succeed, e.g. ${failed[0]?.host} ${failed[0]?.outcome}: ${failed[0]?.reason}`);
    const steps = new Map<string, Record<string, number>>();
    const spans = new Map<string, { first: number; last: number }>();
    for (const step of detail.steps) {
      const started = Date.parse(step.startedAt);
      const ended = Date.parse(step.finishedAt ?? step.startedAt);
      const span = spans.get(step.host);
      spans.set(step.host, { first: Math.min(span?.first ?? started, started), last: Math.max(span?.last ?? ended, ended) });
      if (step.durationMs === null) continue;
      const record = steps.get(step.host) ?? {};
      record[step.step] = (record[step.step] ?? 0) + step.durationMs;
      steps.set(step.host, record);
    }
    const timings = detail.hosts.map((host) => ({
      host: host.host,
      batch: host.batch,
      requestedAt: Date.parse(host.requestedAt ?? ""),
      finishedAt: Date.parse(host.finishedAt ?? ""),
      durationMs: host.durationMs ?? 0,
      steps: steps.get(host.host) ?? {},
      ...(spans.has(host.host) ? { firstStepAt: spans.get(host.host)?.first, lastStepAt: spans.get(host.host)?.last } : {}),
    }));
    const ledgerMs = Date.parse(detail.deploy.finishedAt ?? "") - Date.parse(detail.deploy.createdAt);
    const startMs = Math.min(...timings.map((timing) => timing.requestedAt)) - postedAt;
    const endMs = seenAt - Math.max(...timings.map((timing) => timing.finishedAt));
    return { wallMs, ledgerMs, timings, deployId: deploy.id, startMs, endMs };
  }

  stop(): Promise<void> {
    return this.daemon.stop();
  }
}
