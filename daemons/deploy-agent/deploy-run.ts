import { existsSync, statfsSync } from "node:fs";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import type { Logger } from "pino";
import type { DeployRequest } from "../../shared/deploy-signature.ts";
import type { BodyInput, DeployStep } from "../../shared/messages/index.ts";
import { type AppConfig, appDir, type HookName } from "./app-config.ts";
import { type DeployPlan, deployPlan, type RepoFile } from "./deploy-plan.ts";
import type { ProgressReporter } from "./progress-reporter.ts";
import { type ScriptContext, scriptEnv } from "./script-env.ts";
import { programProblem, type RunAs, runCommand, runStep, runVerify, StepFailure, type StepTools } from "./step-runner.ts";
import type { AppRelease, Prepared, ReleaseInfo, Strategy, StrategyContext } from "./strategy.ts";
import { tagOf } from "./checkout-strategy.ts";

export type ResultBody = BodyInput<"deploy.results">;

export interface DeployRunOptions {
  request: DeployRequest;
  app: AppConfig;
  strategy: Strategy;
  host: string;
  user: RunAs;
  restartUser: RunAs;
  reporter: ProgressReporter;
  log: Logger;
  /** Aborted by a cancel request or the agent stopping. */
  signal: AbortSignal;
  timeoutMs: number;
  inactivityMs: number;
  minFreeBytes: number;
  /** Takes the app's lock; a reason when another deploy holds it. */
  lock(): string | undefined;
}

/** Where preflight looks for free space: the nearest existing directory on the way to the app's files. */
function existingParent(dir: string): string {
  let probe = dir;
  while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe);
  return probe;
}

/**
 * One deploy or rollback of one app on this host, step by step, each step
 * reported as it starts and ends. Returns the deploy.results body; never
 * throws for the deploy's own failures.
 */
export class DeployRun {
  readonly options: DeployRunOptions;
  readonly tools: StepTools;
  readonly startedAt = performance.now();
  #plan: DeployPlan;
  #before: AppRelease;

  constructor(options: DeployRunOptions) {
    this.options = options;
    this.tools = { reporter: options.reporter, signal: options.signal, timeoutMs: options.timeoutMs, inactivityMs: options.inactivityMs };
    this.#plan = deployPlan(options.app, undefined);
    this.#before = options.strategy.current();
  }

  #context(step: DeployStep): StrategyContext {
    const { request, app, log, signal, timeoutMs, inactivityMs, user } = this.options;
    return { request, app, log, signal, timeoutMs, inactivityMs, ...(user.switchTo ? { owner: user.switchTo } : {}), say: (text) => this.options.reporter.line(step, "agent", text) };
  }

  #env(step: DeployStep, release: ReleaseInfo | null, previous: { release: string | null; sha?: string | null } | null): Record<string, string> {
    const { request, app, host, user } = this.options;
    const context: ScriptContext = {
      app: app.app,
      environment: request.environment,
      action: request.action === "rollback" ? "rollback" : "deploy",
      deployId: request.deployId,
      host,
      ref: release?.ref ?? request.ref ?? "",
      sha: release?.sha ?? request.sha ?? "",
      previousSha: previous?.sha ?? "",
      release: release?.release ?? "",
      releaseDir: release?.dir ?? "",
      previousRelease: previous?.release ?? "",
      appDir: appDir(app),
    };
    return scriptEnv(user, context, step, app.environment);
  }

  #preflightChecks(step: DeployStep): void {
    const { request, app, minFreeBytes } = this.options;
    const busy = this.options.lock();
    if (busy !== undefined) throw new StepFailure(step, "refused", busy);
    if (app.environments !== undefined && !app.environments.includes(request.environment)) {
      throw new StepFailure(step, "refused", `this host serves ${app.app} in ${app.environments.join(", ")}, not ${request.environment}`);
    }
    const where = existingParent(app.site ?? appDir(app));
    const stats = statfsSync(where);
    const free = stats.bavail * stats.bsize;
    if (free < minFreeBytes) {
      throw new StepFailure(step, "failed", `only ${Math.floor(free / 1048576)} MB free on ${where}, ${Math.floor(minFreeBytes / 1048576)} MB needed (deploy-agent.minFreeMegabytes)`);
    }
  }

  /** Every command of the plan must be runnable before anything changes; paths inside the new release are checked in the commit, or after fetch. */
  async #checkPlan(step: DeployStep, base: string, executable?: (path: string) => Promise<boolean>): Promise<void> {
    const commands: [string, string][] = [];
    for (const [hook, command] of Object.entries(this.#plan.hooks)) commands.push([`scripts.${hook}`, command.argv[0] as string]);
    if (this.#plan.restart) commands.push(["restart", this.#plan.restart.argv[0] as string]);
    const check = this.#plan.healthCheck?.check;
    if (check?.command) commands.push(["healthCheck.command", check.command[0] as string]);
    if (this.options.app.strategy === "checkout" && this.options.app.controlDir !== undefined) {
      for (const script of ["pre-deploy.sh", "post-deploy.sh"]) {
        const path = join(this.options.app.controlDir, script);
        if (existsSync(path)) commands.push([script, path]);
      }
    }
    for (const [key, program] of commands) {
      const inRelease = program.includes("/") && !program.startsWith("/");
      if (inRelease && key === "scripts.pre-fetch") continue;
      if (inRelease && executable !== undefined) {
        if (!(await executable(program))) throw new StepFailure(step, "failed", `${key}: ${program} is not an executable file in the commit (git update-index --chmod=+x it)`);
        continue;
      }
      if (inRelease && base === "") continue;
      const problem = programProblem(program, base);
      if (problem) throw new StepFailure(step, "failed", `${key}: ${problem}`);
    }
  }

  #usePlan(repoFile: RepoFile | undefined, step: DeployStep): void {
    this.#plan = deployPlan(this.options.app, repoFile);
    if (this.#plan.overridden.length > 0) this.options.reporter.line(step, "agent", `host config overrides deploykit.yml for ${this.#plan.overridden.join(", ")}`);
  }

  async #hook(step: DeployStep, hook: HookName, cwd: string, release: ReleaseInfo | null, previous: AppRelease | ReleaseInfo | null): Promise<boolean> {
    const command = this.#plan.hooks[hook];
    if (!command) return false;
    await runCommand(this.tools, step, command.argv, cwd, this.options.user, this.#env(step, release, previous && { release: previous.release, sha: previous.sha ?? null }));
    return true;
  }

  /** The seed's control scripts of the checkout strategy: `<controlDir>/<script> -t TAG`, when present. */
  async #controlScript(step: DeployStep, script: string, release: ReleaseInfo, previous: AppRelease | ReleaseInfo | null): Promise<boolean> {
    const { app } = this.options;
    if (app.strategy !== "checkout" || app.controlDir === undefined) return false;
    const path = join(app.controlDir, script);
    if (!existsSync(path)) return false;
    const env = this.#env(step, release, previous && { release: previous.release, sha: previous.sha ?? null });
    await runCommand(this.tools, step, [path, "-t", tagOf(release.ref, release.sha as string)], app.controlDir, this.options.user, env);
    return true;
  }

  async #restart(step: DeployStep, release: ReleaseInfo, previous: { release: string | null; sha?: string | null } | null): Promise<boolean> {
    if (!this.#plan.restart) return false;
    const env = this.#env(step, release, previous);
    await runCommand(this.tools, step, this.#plan.restart.argv, release.dir, this.options.restartUser, env);
    return true;
  }

  async #optional(step: DeployStep, body: () => Promise<boolean>): Promise<void> {
    if (this.#configured(step)) await runStep(this.tools, step, async () => void (await body()));
    else this.options.reporter.step(step, "skipped", `no ${step} command configured`);
  }

  #configured(step: DeployStep): boolean {
    const controlled = this.options.app.strategy === "checkout" && this.options.app.controlDir !== undefined;
    switch (step) {
      case "pre-fetch":
        return this.#plan.hooks["pre-fetch"] !== undefined;
      case "pre-link":
        return this.#plan.hooks["pre-link"] !== undefined || (controlled && existsSync(join(this.options.app.controlDir as string, "pre-deploy.sh")));
      case "post-deploy":
        return this.#plan.hooks["post-deploy"] !== undefined || (controlled && existsSync(join(this.options.app.controlDir as string, "post-deploy.sh")));
      case "restart":
        return this.#plan.restart !== undefined;
      case "verify":
        return this.#plan.healthCheck !== undefined;
      default:
        return true;
    }
  }

  /** The whole deploy: preflight → pre-fetch → fetch → pre-link → link → restart → post-deploy → verify. */
  async deploy(): Promise<ResultBody> {
    const { strategy, app } = this.options;
    let release: ReleaseInfo | null = null;
    let linked = false;
    let previous: ReleaseInfo | null = null;
    try {
      const prepared: Prepared = await runStep(this.tools, "preflight", async () => {
        this.#preflightChecks("preflight");
        const ready = await strategy.preflight(this.#context("preflight"));
        if (ready.known) this.#usePlan(ready.repoFile, "preflight");
        await this.#checkPlan("preflight", this.#before.dir ?? "", ready.executable);
        return ready;
      });
      await this.#optional("pre-fetch", () => this.#hook("pre-fetch", "pre-fetch", this.#before.dir ?? existingParent(appDir(app)), null, this.#before));
      release = await runStep(this.tools, "fetch", async () => {
        const fetched = await strategy.fetch(this.#context("fetch"));
        if (!prepared.known) {
          this.#usePlan(fetched.repoFile, "fetch");
          await this.#checkPlan("fetch", fetched.release.dir);
        }
        return fetched.release;
      });
      const fresh = release;
      await this.#optional("pre-link", async () => {
        await this.#controlScript("pre-link", "pre-deploy.sh", fresh, this.#before);
        return this.#hook("pre-link", "pre-link", fresh.dir, fresh, this.#before);
      });
      previous = await runStep(this.tools, "link", () => strategy.link(this.#context("link"), fresh));
      linked = true;
      await this.#optional("restart", () => this.#restart("restart", fresh, previous));
      await this.#optional("post-deploy", async () => {
        await this.#hook("post-deploy", "post-deploy", fresh.dir, fresh, previous);
        return this.#controlScript("post-deploy", "post-deploy.sh", fresh, previous);
      });
      const check = this.#plan.healthCheck?.check;
      if (check) await runStep(this.tools, "verify", () => runVerify(this.tools, check, fresh.dir, this.options.user, this.#env("verify", fresh, previous)));
      else this.options.reporter.step("verify", "skipped", "no health check configured");
      const removed = strategy.prune(app.keep);
      if (removed.length > 0) this.options.reporter.line("verify", "agent", `removed old releases ${removed.join(", ")} (keeping ${app.keep})`);
      return this.#result("succeeded", { release: fresh.release, previousRelease: previous?.release ?? null });
    } catch (err) {
      const failure = err instanceof StepFailure ? err : new StepFailure("preflight", "failed", (err as Error).message);
      if (release !== null && !linked) strategy.abandon(release);
      if (release !== null && linked) return this.#afterLinkFailure(failure, release, previous);
      return this.#failed(failure, { release: this.#before.release, previousRelease: null });
    }
  }

  async #afterLinkFailure(failure: StepFailure, release: ReleaseInfo, previous: ReleaseInfo | null): Promise<ResultBody> {
    const { strategy, app } = this.options;
    strategy.markFailed(release, failure.step, failure.message);
    if (!app.rollbackOnFailure) return this.#failed(failure, { release: release.release, previousRelease: previous?.release ?? null }, "rollbackOnFailure is off: the failed release stays current");
    if (previous === null) return this.#failed(failure, { release: release.release, previousRelease: null }, "no previous release to roll back to: the failed release stays current");
    // The rollback runs even after a cancel: the signal only stopped the deploy's own commands.
    const rollbackTools: StepTools = { ...this.tools, signal: new AbortController().signal };
    try {
      await runStep(rollbackTools, "rollback", async () => {
        this.options.reporter.line("rollback", "agent", `${failure.step} failed: switching back to ${previous.release}`);
        await strategy.switchBack({ ...this.#context("rollback"), signal: rollbackTools.signal }, previous);
        this.#usePlan(await strategy.repoFileOf(previous), "rollback");
        if (this.#plan.restart) {
          await runCommand(rollbackTools, "rollback", this.#plan.restart.argv, previous.dir, this.options.restartUser, this.#env("rollback", previous, release));
        }
      });
    } catch (err) {
      const reason = `${failure.message}; the rollback to ${previous.release} failed too: ${(err as Error).message}`;
      return this.#failed(new StepFailure(failure.step, failure.kind, reason), { release: strategy.current().release, previousRelease: previous.release });
    }
    return this.#result("rolled-back", {
      release: previous.release,
      previousRelease: release.release,
      failedStep: failure.step,
      reason: `${failure.message}; rolled back to ${previous.release}`,
      tail: this.options.reporter.tail(failure.step),
    });
  }

  /** The rollback action: preflight → link (to the previous or the named release) → restart → verify. */
  async rollback(): Promise<ResultBody> {
    const { strategy, request } = this.options;
    let target: ReleaseInfo | null = null;
    try {
      target = await runStep(this.tools, "preflight", async () => {
        this.#preflightChecks("preflight");
        const found = strategy.rollbackTarget(request.release);
        if (found === null) {
          throw new StepFailure("preflight", "failed", request.release ? `release ${request.release} is not on this host` : "there is no previous release to roll back to");
        }
        this.#usePlan(await strategy.repoFileOf(found), "preflight");
        await this.#checkPlan("preflight", found.dir);
        return found;
      });
      const to = target;
      const from = this.#before;
      await runStep(this.tools, "link", async () => {
        if (from.release === to.release) this.options.reporter.line("link", "agent", `${to.release} is current already`);
        else await strategy.switchBack(this.#context("link"), to);
      });
      const previous = { release: from.release, sha: from.sha };
      await this.#optional("restart", () => this.#restart("restart", to, previous));
      const check = this.#plan.healthCheck?.check;
      if (check) await runStep(this.tools, "verify", () => runVerify(this.tools, check, to.dir, this.options.user, this.#env("verify", to, previous)));
      else this.options.reporter.step("verify", "skipped", "no health check configured");
      return this.#result("succeeded", { release: to.release, previousRelease: from.release });
    } catch (err) {
      const failure = err instanceof StepFailure ? err : new StepFailure("preflight", "failed", (err as Error).message);
      return this.#failed(failure, { release: strategy.current().release, previousRelease: this.#before.release });
    }
  }

  #failed(failure: StepFailure, releases: { release: string | null; previousRelease: string | null }, note?: string): ResultBody {
    const outcome = failure.kind === "refused" ? "refused" : failure.kind === "timeout" ? "timeout" : "failed";
    return this.#result(outcome, {
      ...releases,
      failedStep: failure.step,
      reason: note ? `${failure.message}; ${note}` : failure.message,
      tail: this.options.reporter.tail(failure.step),
      ...(failure.kind === "cancelled" ? { cancelled: true } : {}),
    });
  }

  #result(outcome: ResultBody["outcome"], extra: Partial<ResultBody> & Record<string, unknown>): ResultBody {
    const { request, app, host } = this.options;
    return {
      deployId: request.deployId,
      host,
      outcome,
      durationMs: Math.round(performance.now() - this.startedAt),
      app: app.app,
      environment: request.environment,
      action: request.action,
      ...(request.ref ? { ref: request.ref } : {}),
      ...(request.sha ? { sha: request.sha } : {}),
      ...extra,
    };
  }
}
