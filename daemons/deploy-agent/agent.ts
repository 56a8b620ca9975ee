import { join } from "node:path";
import type { Logger } from "pino";
import type { Bus } from "../../shared/bus/bus.ts";
import type { DeployRequest } from "../../shared/deploy-signature.ts";
import type { BodyInput, Envelope } from "../../shared/messages/index.ts";
import { version } from "../../shared/version.ts";
import type { AppConfig } from "./app-config.ts";
import { acquireAppLock } from "./app-lock.ts";
import type { DeployAgentConfig } from "./config.ts";
import { deployPlan } from "./deploy-plan.ts";
import { DeployRun, type ResultBody } from "./deploy-run.ts";
import { runHealthCheck } from "./health-check.ts";
import type { HostIdentity } from "./host-identity.ts";
import { matchTarget } from "../../shared/match-target.ts";
import { ProgressReporter } from "./progress-reporter.ts";
import type { GuardVerdict } from "./request-guard.ts";
import { scriptEnv } from "./script-env.ts";
import { healthCheckOf, type RunAs } from "./step-runner.ts";
import type { Strategy } from "./strategy.ts";

export interface AgentApp {
  config: AppConfig;
  strategy: Strategy;
  user: RunAs;
  restartUser: RunAs;
}

interface Running {
  deployId: string;
  controller: AbortController;
  done: Promise<void>;
}

export interface AgentOptions {
  bus: Bus;
  log: Logger;
  config: DeployAgentConfig;
  identity: HostIdentity;
  apps: ReadonlyMap<string, AgentApp>;
  guard(request: DeployRequest): GuardVerdict;
}

type AppsBody = NonNullable<BodyInput<"hosts.alive">["apps"]>;

/** Decides what to do with each deploy request and runs deploys, one per app at a time, different apps in parallel. */
export class Agent {
  readonly options: AgentOptions;
  readonly running = new Map<string, Running>();
  #health = new Map<string, "ok" | "failing" | "unknown">();
  /** Every run until its result is published (an app leaves `running` just before that). */
  #inflight = new Set<Promise<void>>();

  constructor(options: AgentOptions) {
    this.options = options;
  }

  get host(): string {
    return this.options.identity.identity;
  }

  handle(message: Envelope<DeployRequest>, log: Logger): void {
    const request = message.body;
    const { identity, apps, guard } = this.options;
    const match = matchTarget(request.target, identity);
    if (!match.matches) {
      log.debug({ deployId: request.deployId, why: match.why }, "deploy request not for this host");
      return;
    }
    const verdict = guard(request);
    if (!verdict.accepted) {
      log.warn({ deployId: request.deployId, app: request.app, reason: verdict.reason, from: message.source }, "deploy request refused");
      this.#refuse(message, verdict.reason);
      return;
    }
    const app = apps.get(request.app);
    if (app === undefined) {
      // Hosts picked by fact or class may simply not carry the app; a host named by identity says why it does nothing.
      if (match.named) this.#refuse(message, `app ${request.app} is not configured on ${this.host} (no ${request.app}.yaml in ${this.options.config.appsDir})`);
      else log.debug({ deployId: request.deployId, app: request.app }, "deploy request for an app this host does not carry");
      return;
    }
    const action = request.action;
    switch (action) {
      case "cancel":
        this.#cancel(message, log);
        return;
      case "deploy":
      case "rollback":
        try {
          this.#start(message, app, log.child({ deployId: request.deployId, app: request.app, action }));
        } catch (err) {
          // E.g. a release's metadata that cannot be read: answer, and stay up for the next request.
          log.error({ err, deployId: request.deployId, app: request.app }, "could not start the deploy");
          this.#refuse(message, `could not start on ${this.host}: ${(err as Error).message}`);
        }
        return;
      default: {
        const unreachable: never = action;
        throw new Error(`unknown action ${String(unreachable)}`);
      }
    }
  }

  #cancel(message: Envelope<DeployRequest>, log: Logger): void {
    const request = message.body;
    const running = this.running.get(request.app);
    if (running === undefined || running.deployId !== request.deployId) {
      this.#refuse(message, `no deploy ${request.deployId} of ${request.app} is running on ${this.host}`);
      return;
    }
    log.info({ deployId: request.deployId, app: request.app, actor: request.actor }, "cancelling deploy");
    running.controller.abort();
  }

  #start(message: Envelope<DeployRequest>, app: AgentApp, log: Logger): void {
    const request = message.body;
    const { bus, config } = this.options;
    const busy = this.running.get(request.app);
    if (busy !== undefined) {
      this.#refuse(message, `another deploy of ${request.app} is running on ${this.host} (${busy.deployId})`);
      return;
    }
    const controller = new AbortController();
    const correlationId = message.correlationId;
    const reporter = new ProgressReporter({
      deployId: request.deployId,
      host: this.host,
      publish: (body) => bus.publish("deploy.progress", { ...body, lines: body.lines.map((line) => ({ ...line })) }, { correlationId }),
      log,
    });
    let unlock: (() => void) | undefined;
    const run = new DeployRun({
      request,
      app: app.config,
      strategy: app.strategy,
      host: this.host,
      user: app.user,
      restartUser: app.restartUser,
      reporter,
      log,
      signal: controller.signal,
      timeoutMs: app.config.timeout ?? config.stepTimeout,
      inactivityMs: app.config.inactivityTimeout ?? config.inactivityTimeout,
      minFreeBytes: config.minFreeMegabytes * 1024 * 1024,
      lock: () => {
        const lock = acquireAppLock(join(config.stateDir, "locks"), { app: request.app, deployId: request.deployId, pid: process.pid, startedAt: new Date().toISOString() });
        if (lock.acquired) {
          unlock = lock.release;
          return undefined;
        }
        return `another deploy of ${request.app} holds ${join(config.stateDir, "locks", `${request.app}.lock`)} (${lock.heldBy?.deployId ?? "unreadable"})`;
      },
    });
    log.info({ ref: request.ref, sha: request.sha, release: request.release, actor: request.actor }, `${request.action} started`);
    const done = (async () => {
      let result: ResultBody;
      try {
        result = request.action === "rollback" ? await run.rollback() : await run.deploy();
      } finally {
        unlock?.();
        await reporter.close();
      }
      this.#health.delete(request.app);
      // Free the app before answering: a conductor may send the next deploy the moment it reads this result.
      this.#release(request.app, request.deployId);
      const level = result.outcome === "succeeded" ? "info" : "warn";
      log[level]({ outcome: result.outcome, release: result.release, failedStep: result.failedStep, reason: result.reason, durationMs: result.durationMs }, `${request.action} ${result.outcome}`);
      await bus.publish("deploy.results", result, { correlationId });
    })()
      .catch((err: unknown) => log.error({ err }, "deploy ended without a published result"))
      .finally(() => this.#release(request.app, request.deployId));
    this.running.set(request.app, { deployId: request.deployId, controller, done });
    this.#inflight.add(done);
    void done.finally(() => this.#inflight.delete(done));
  }

  #release(app: string, deployId: string): void {
    if (this.running.get(app)?.deployId === deployId) this.running.delete(app);
  }

  #refuse(message: Envelope<DeployRequest>, reason: string): void {
    const request = message.body;
    const body: ResultBody = {
      deployId: request.deployId,
      host: this.host,
      outcome: "refused",
      durationMs: 0,
      reason,
      app: request.app,
      environment: request.environment,
      action: request.action,
    };
    this.options.bus.publish("deploy.results", body, { correlationId: message.correlationId }).catch((err: unknown) => {
      this.options.log.warn({ err, deployId: request.deployId }, "could not publish a refusal");
    });
  }

  /** Every app's current release and health, for hosts.alive. */
  async apps(): Promise<AppsBody> {
    const entries = await Promise.all(
      [...this.options.apps].map(async ([name, app]) => {
        const current = app.strategy.current();
        const health = this.running.has(name) ? (this.#health.get(name) ?? "unknown") : await this.#checkHealth(app, current.dir);
        this.#health.set(name, health);
        const entry: AppsBody[string] = { release: current.release, sha: current.sha, since: current.since, health };
        if (current.ref) entry.ref = current.ref;
        if (this.running.has(name)) Object.assign(entry, { deploying: this.running.get(name)?.deployId });
        return [name, entry] as const;
      }),
    );
    return Object.fromEntries(entries);
  }

  async #checkHealth(app: AgentApp, dir: string | null): Promise<"ok" | "failing" | "unknown"> {
    if (dir === null) return "unknown";
    try {
      const plan = deployPlan(app.config, await app.strategy.repoFileOf({ release: "", dir }));
      if (!plan.healthCheck) return "unknown";
      // One quick attempt: hosts.alive reports the state, the verify step is where retries belong.
      const check = healthCheckOf({ ...plan.healthCheck.check, retries: 0 }, dir);
      const env = scriptEnv(
        app.user,
        { app: app.config.app, environment: "", action: "deploy", deployId: "", host: this.host, ref: "", sha: "", previousSha: "", release: "", releaseDir: dir, previousRelease: "", appDir: dir },
        "verify",
        app.config.environment,
      );
      const result = await runHealthCheck(check, { cwd: dir, env, ...(app.user.switchTo ?? {}) });
      return result.healthy ? "ok" : "failing";
    } catch (err) {
      this.options.log.debug({ err, app: app.config.app }, "health check could not run");
      return "unknown";
    }
  }

  /** Stopping cancels running deploys (one past link rolls back) and waits for their results. */
  async stop(): Promise<void> {
    for (const running of this.running.values()) running.controller.abort();
    await Promise.allSettled([...this.#inflight]);
  }

  snapshotBase(): { host: string; facts: Record<string, unknown>; classes: string[]; agentVersion: string } {
    const { identity } = this.options;
    return { host: identity.identity, facts: identity.facts, classes: identity.classes, agentVersion: version };
  }
}
