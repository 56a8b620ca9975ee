import { randomUUID } from "node:crypto";
import type { KeyObject } from "node:crypto";
import type { Logger } from "pino";
import type { Bus } from "../../shared/bus/bus.ts";
import { signDeployRequest } from "../../shared/deploy-signature.ts";
import { GitError } from "../../shared/run-git.ts";
import type { BodyOf } from "../../shared/messages/index.ts";
import { ApiError } from "./api/api-error.ts";
import type { ConductorApp, EnvironmentConfig } from "./app-catalog.ts";
import { type AppRepos, InvalidRefError } from "./app-repos.ts";
import { describeGate, deployGate } from "./deploy-gate.ts";
import { DeployStates } from "./deploy-states.ts";
import type { HostRegistry } from "./host-registry.ts";
import { type DeployPatch, type DeployRecord, type DeployState, finishedStates, type Ledger, type LockRecord } from "./ledger/ledger.ts";
import type { LiveFeed } from "./live-feed.ts";
import { failureBudgetCount, planBatches } from "./plan-batches.ts";
import { ProgressRecorder } from "./progress-recorder.ts";
import { Rollout } from "./rollout.ts";

export interface ConductorServiceOptions {
  ledger: Ledger;
  bus: Bus;
  apps: ReadonlyMap<string, ConductorApp>;
  repos: AppRepos;
  registry: HostRegistry;
  feed: LiveFeed;
  signingKey: KeyObject;
  log: Logger;
  requestTtlMs: number;
  hostTimeoutMs: number;
  logLinesPerHost: number;
  /** Called once per state a deploy enters (for metrics). */
  onState?: (state: DeployState) => void;
}

export interface DeployAsk {
  app: string;
  environment: string;
  ref: string;
  hosts?: string[];
  force?: boolean;
  actor: string;
  /** Only admins may force past a red CI gate. */
  mayForce: boolean;
}

/** What a deploy of an ask would be, once every check has passed. */
export interface DeployCheck {
  app: ConductorApp;
  environment: EnvironmentConfig;
  ref: string;
  sha: string;
  gate: ReturnType<typeof deployGate>;
  /** The gate has not passed and the ask forces past it. */
  forced: boolean;
  /** The hosts it would go to now, sorted (the rollout chooses again when it starts). */
  hosts: string[];
  previous: DeployRecord | undefined;
}

const key = (app: string, environment: string) => `${app}/${environment}`;

/**
 * The conductor's decisions: which deploys may start, in which order, to
 * which hosts, and what the answers mean. One rollout runs per app and
 * environment; later deploys wait in the ledger's queue, oldest first.
 */
export class ConductorService {
  readonly options: ConductorServiceOptions;
  readonly #running = new Map<string, Rollout>();
  readonly #byUid = new Map<string, Rollout>();
  readonly #kicks = new Map<string, Promise<void>>();
  readonly #progress: ProgressRecorder;
  readonly #states: DeployStates;
  #stopped = false;

  constructor(options: ConductorServiceOptions) {
    this.options = options;
    this.#progress = new ProgressRecorder(options.ledger, options.feed, options.logLinesPerHost);
    this.#states = new DeployStates(options);
  }

  app(name: string): ConductorApp {
    const app = this.options.apps.get(name);
    if (app === undefined) throw new ApiError("not-found", `no app ${name}: the conductor knows ${[...this.options.apps.keys()].join(", ") || "no apps (see docs/conductor.md)"}`);
    return app;
  }

  environment(app: ConductorApp, name: string): EnvironmentConfig {
    const environment = app.environments.find((env) => env.name === name);
    if (environment === undefined) throw new ApiError("not-found", `${app.app} has no environment ${name}: it has ${app.environments.map((env) => env.name).join(", ")}`);
    return environment;
  }

  /**
   * Every check POST /deploys makes, each with its own refusal, without
   * recording anything: what a deploy of this ask would be (POST /plans
   * shows it before anything is sent).
   */
  async check(ask: DeployAsk): Promise<DeployCheck> {
    const { ledger, repos, registry } = this.options;
    const app = this.app(ask.app);
    const environment = this.environment(app, ask.environment);
    await this.#refuseWhenLocked(app, environment);
    let resolved: Awaited<ReturnType<AppRepos["resolve"]>>;
    try {
      resolved = await repos.resolve(app, ask.ref);
    } catch (err) {
      if (err instanceof InvalidRefError) throw new ApiError("invalid-ref", err.message);
      if (err instanceof GitError) throw new ApiError("repository-unavailable", `cannot resolve ${ask.ref} in ${app.app}'s repository: ${err.message}`);
      throw err;
    }
    if (resolved === undefined) throw new ApiError("unknown-ref", `${ask.ref} is neither a tag, a branch nor a commit of ${app.app} (${app.url})`);
    const gate = deployGate(await ledger.buildsForSha(resolved.sha), environment.gate?.jobs);
    const forced = environment.gate !== undefined && gate.status !== "passed";
    if (forced && !ask.force) throw new ApiError("ci-gate", `the CI gate of ${app.app}/${environment.name} has not passed for ${resolved.sha.slice(0, 12)}: ${describeGate(gate)}`);
    if (forced && !ask.mayForce) throw new ApiError("forbidden", `${ask.actor} may not force past the CI gate: that needs an admin token`);
    const hosts = registry.choose(app.app, environment.target, ask.hosts ?? null);
    if (!hosts.ok) throw new ApiError("no-hosts", hosts.message);
    const previous = await ledger.lastSucceeded(app.app, environment.name);
    return { app, environment, ref: resolved.ref, sha: resolved.sha, gate, forced, hosts: hosts.hosts, previous };
  }

  /** Every check, each with its own refusal, then the deploy is queued (and started when its environment is free). */
  async requestDeploy(ask: DeployAsk): Promise<DeployRecord> {
    const { ledger } = this.options;
    const { app, environment, ref, sha, gate, forced, previous } = await this.check(ask);
    const deploy = await ledger.createDeploy({
      uid: randomUUID(),
      app: app.app,
      environment: environment.name,
      action: "deploy",
      ref,
      sha,
      previousSha: previous?.sha ?? null,
      rollbackOf: null,
      actor: ask.actor,
      forced,
      requestedHosts: ask.hosts ?? null,
    });
    await ledger.audit({ actor: ask.actor, action: forced ? "force" : "deploy", app: app.app, environment: environment.name, deployId: deploy.id, detail: { ref, sha, hosts: ask.hosts ?? null, ...(forced ? { gate: describeGate(gate) } : {}) } });
    return this.#queued(deploy);
  }

  /** A new deploy of what ran before the given deploy: the last one of its environment that succeeded before it. */
  async rollback(id: number, actor: string): Promise<DeployRecord> {
    const { ledger } = this.options;
    const of = await this.deploy(id);
    const app = this.app(of.app);
    const environment = this.environment(app, of.environment);
    await this.#refuseWhenLocked(app, environment);
    const target = await ledger.lastSucceeded(of.app, of.environment, of.id);
    if (target === undefined) throw new ApiError("nothing-to-roll-back", `no deploy of ${of.app}/${of.environment} succeeded before #${of.number}: there is nothing to go back to`);
    const hosts = this.options.registry.choose(app.app, environment.target, of.requestedHosts);
    if (!hosts.ok) throw new ApiError("no-hosts", hosts.message);
    const current = await ledger.lastSucceeded(of.app, of.environment);
    const deploy = await ledger.createDeploy({
      uid: randomUUID(),
      app: of.app,
      environment: of.environment,
      action: "rollback",
      ref: target.ref,
      sha: target.sha,
      previousSha: current?.sha ?? null,
      rollbackOf: of.id,
      actor,
      forced: false,
      requestedHosts: of.requestedHosts,
    });
    await ledger.audit({ actor, action: "rollback", app: of.app, environment: of.environment, deployId: deploy.id, detail: { of: of.id, to: target.id, ref: target.ref, sha: target.sha } });
    return this.#queued(deploy);
  }

  async cancel(id: number, actor: string): Promise<DeployRecord> {
    const deploy = await this.deploy(id);
    if (finishedStates.includes(deploy.state)) throw new ApiError("not-running", `deploy ${id} has already ${deploy.state === "interrupted" ? "been interrupted" : deploy.state}`);
    await this.options.ledger.audit({ actor, action: "cancel", app: deploy.app, environment: deploy.environment, deployId: id, detail: { state: deploy.state } });
    // After any start in progress for this environment, so a deploy being started is cancelled as a running one.
    return this.#serial(key(deploy.app, deploy.environment), async () => {
      const rollout = this.#byUid.get(deploy.uid);
      if (rollout) {
        rollout.cancel(actor);
        return rollout.deploy;
      }
      const current = await this.deploy(id);
      if (current.state !== "queued") return current;
      return this.setState(current, { state: "cancelled", message: `cancelled by ${actor} while queued`, finishedAt: new Date().toISOString() });
    });
  }

  async deploy(id: number): Promise<DeployRecord> {
    const deploy = await this.options.ledger.getDeploy(id);
    if (deploy === undefined) throw new ApiError("not-found", `no deploy ${id}`);
    return deploy;
  }

  async lock(lock: LockRecord): Promise<LockRecord> {
    const app = this.app(lock.app);
    this.environment(app, lock.environment);
    await this.options.ledger.setLock(lock);
    await this.options.ledger.audit({ actor: lock.actor, action: "lock", app: lock.app, environment: lock.environment, deployId: null, detail: { reason: lock.reason, expiresAt: lock.expiresAt } });
    return lock;
  }

  async unlock(appName: string, environmentName: string, actor: string): Promise<void> {
    const app = this.app(appName);
    this.environment(app, environmentName);
    if (!(await this.options.ledger.clearLock(appName, environmentName))) throw new ApiError("not-found", `${appName}/${environmentName} is not locked`);
    await this.options.ledger.audit({ actor, action: "unlock", app: appName, environment: environmentName, deployId: null, detail: {} });
  }

  /** Records a deploy's state everywhere it is seen (see DeployStates). */
  setState(deploy: DeployRecord, patch: DeployPatch): Promise<DeployRecord> {
    return this.#states.set(deploy, patch);
  }

  async onResult(result: BodyOf<"deploy.results">): Promise<void> {
    const rollout = this.#byUid.get(result.deployId);
    if (rollout) {
      const { deploy } = rollout;
      if (result.outcome === "succeeded" && result.host) {
        this.options.registry.noteDeployed(result.host, deploy.app, { release: result.release ?? null, sha: deploy.sha, ref: deploy.ref, since: new Date().toISOString() });
      }
      return rollout.onResult(result);
    }
    const deploy = await this.options.ledger.getDeployByUid(result.deployId);
    if (deploy === undefined) this.options.log.debug({ deployId: result.deployId, host: result.host }, "result for a deploy this conductor did not start");
    else this.options.log.info({ deploy: deploy.id, host: result.host, outcome: result.outcome, state: deploy.state }, "late result for a finished deploy");
  }

  async onProgress(progress: BodyOf<"deploy.progress">, time: string): Promise<void> {
    const deploy = this.#byUid.get(progress.deployId)?.deploy ?? (await this.options.ledger.getDeployByUid(progress.deployId));
    if (deploy !== undefined) await this.#progress.record(deploy, progress, time);
  }

  async onAlive(alive: BodyOf<"hosts.alive">, time: string): Promise<void> {
    const record = await this.options.registry.observe(alive, time);
    for (const rollout of this.#running.values()) await rollout.onAlive(record);
  }

  /** At start: running deploys are resumed (or marked interrupted when they cannot be), queued ones start. */
  async recover(): Promise<void> {
    const { ledger, log } = this.options;
    const unfinished = await ledger.listDeploys({ states: ["running", "queued"], limit: 500 });
    for (const deploy of unfinished.reverse()) {
      if (deploy.state !== "running") continue;
      const app = this.options.apps.get(deploy.app);
      const environment = app?.environments.find((env) => env.name === deploy.environment);
      const hosts = await ledger.deployHosts(deploy.id);
      if (app === undefined || environment === undefined || hosts.length === 0) {
        const why = app === undefined || environment === undefined ? `${deploy.app}/${deploy.environment} is no longer configured` : "it had no planned hosts";
        for (const host of hosts.filter((h) => h.outcome === "pending")) await ledger.updateDeployHost(deploy.id, host.host, { outcome: "skipped", reason: "the conductor restarted" });
        await this.setState(deploy, { state: "interrupted", message: `the conductor restarted during the rollout and cannot resume it: ${why}`, finishedAt: new Date().toISOString() });
        continue;
      }
      log.info({ deploy: deploy.id, app: deploy.app, environment: deploy.environment }, "resuming a rollout the conductor was running when it stopped");
      this.#start(deploy, environment, hosts);
    }
    for (const name of new Set(unfinished.map((deploy) => key(deploy.app, deploy.environment)))) await this.#kick(name);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const rollout of this.#running.values()) rollout.stop();
  }

  runningFor(app: string, environment: string): DeployRecord | undefined {
    return this.#running.get(key(app, environment))?.deploy;
  }

  async #queued(deploy: DeployRecord): Promise<DeployRecord> {
    this.options.feed.emit(deploy.id, { type: "deploy", deploy });
    await this.#states.announce(deploy);
    await this.#kick(key(deploy.app, deploy.environment));
    return (await this.options.ledger.getDeploy(deploy.id)) ?? deploy;
  }

  async #refuseWhenLocked(app: ConductorApp, environment: EnvironmentConfig): Promise<void> {
    if (!environment.lockRequired) return;
    const lock = await this.options.ledger.getLock(app.app, environment.name);
    if (lock) throw new ApiError("locked", `${app.app}/${environment.name} is locked by ${lock.actor} since ${lock.createdAt}${lock.expiresAt ? ` until ${lock.expiresAt}` : ""}: ${lock.reason}`);
  }

  /**
   * Starts the oldest queued deploy of an app and environment when none runs
   * there. Calls for one environment run one after another, so two requests
   * arriving together can never start two rollouts (or one deploy twice).
   */
  #kick(name: string): Promise<void> {
    return this.#serial(name, () => this.#startNext(name));
  }

  /** Runs work for one app and environment after the work already queued for it. */
  #serial<T>(name: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#kicks.get(name) ?? Promise.resolve();
    const next = previous.then(work);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.#kicks.set(name, settled);
    void settled.then(() => {
      if (this.#kicks.get(name) === settled) this.#kicks.delete(name);
    });
    return next;
  }

  async #startNext(name: string): Promise<void> {
    const [app, environmentName] = name.split("/") as [string, string];
    for (;;) {
      if (this.#stopped || this.#running.has(name)) return;
      const queued = await this.options.ledger.listDeploys({ app, environment: environmentName, states: ["queued"], limit: 500 });
      const next = queued.at(-1);
      if (next === undefined) return;
      const now = new Date().toISOString();
      const environment = this.options.apps.get(app)?.environments.find((env) => env.name === environmentName);
      if (environment === undefined) {
        await this.setState(next, { state: "interrupted", message: `${name} is no longer configured`, finishedAt: now });
        continue;
      }
      const chosen = this.options.registry.choose(app, environment.target, next.requestedHosts);
      if (!chosen.ok) {
        await this.setState(next, { state: "failed", message: `no hosts to deploy to when its turn came: ${chosen.message}`, startedAt: now, finishedAt: now });
        continue;
      }
      const batches = planBatches(chosen.hosts, environment.rollout);
      await this.options.ledger.addDeployHosts(next.id, batches.flatMap((hosts, batch) => hosts.map((host) => ({ host, batch }))));
      this.#start(next, environment, await this.options.ledger.deployHosts(next.id));
      return;
    }
  }

  #start(deploy: DeployRecord, environment: EnvironmentConfig, hosts: Awaited<ReturnType<Ledger["deployHosts"]>>): void {
    const { ledger, bus, feed, log, signingKey } = this.options;
    const name = key(deploy.app, deploy.environment);
    const planned = hosts.filter((host) => !host.unexpected).length;
    const rollout = new Rollout(deploy, hosts, {
      ledger,
      bus,
      feed,
      log: log.child({ deploy: deploy.id, app: deploy.app, environment: deploy.environment }),
      sign: (request) => signDeployRequest(request, signingKey),
      setState: (record, patch) => this.setState(record, patch),
      requestTtlMs: this.options.requestTtlMs,
      hostTimeoutMs: environment.rollout.hostTimeout ?? this.options.hostTimeoutMs,
      pauseMs: environment.rollout.pause,
      failureBudget: failureBudgetCount(environment.rollout, planned),
    });
    this.#running.set(name, rollout);
    this.#byUid.set(deploy.uid, rollout);
    void rollout
      .run()
      .catch((err: unknown) => log.error({ err, deploy: deploy.id }, "rollout failed unexpectedly"))
      .finally(() => {
        this.#running.delete(name);
        this.#byUid.delete(deploy.uid);
        this.#progress.forget(deploy.id);
        void this.#kick(name).catch((err: unknown) => log.error({ err }, "could not start the next deploy"));
      });
  }

}
