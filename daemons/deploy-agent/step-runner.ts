import { accessSync, constants, existsSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import type { SystemUser } from "../../shared/lookup-user.ts";
import type { DeployStep } from "../../shared/messages/index.ts";
import type { HealthCheckConfig } from "./app-config.ts";
import { type HealthCheck, runHealthCheck } from "./health-check.ts";
import type { ProgressReporter } from "./progress-reporter.ts";
import { runStepCommand } from "./run-step-command.ts";
import { scriptPath } from "./script-env.ts";

export type FailureKind = "failed" | "timeout" | "cancelled" | "refused";

/** Why a step stopped the deploy; the edge maps `kind` to the published outcome. */
export class StepFailure extends Error {
  readonly step: DeployStep;
  readonly kind: FailureKind;
  constructor(step: DeployStep, kind: FailureKind, reason: string) {
    super(reason);
    this.name = "StepFailure";
    this.step = step;
    this.kind = kind;
  }
}

/** Whom a command runs as; uid/gid are absent when the agent is not root (it runs everything as itself). */
export interface RunAs extends SystemUser {
  switchTo?: { uid: number; gid: number };
}

/**
 * argv[0] as the command will be run: an absolute path as is, a path with a
 * slash relative to `base` (and never outside it), a bare name from the
 * scripts' PATH. Undefined when a relative path escapes `base`.
 */
export function resolveProgram(program: string, base: string): string | undefined {
  if (isAbsolute(program) || !program.includes("/")) return program;
  const full = resolve(base, program);
  const inside = relative(base, full);
  return inside.startsWith("..") || isAbsolute(inside) ? undefined : full;
}

/** Why argv[0] cannot run here, or undefined when it can. */
export function programProblem(program: string, base: string): string | undefined {
  const resolved = resolveProgram(program, base);
  if (resolved === undefined) return `${program} leads outside ${base}`;
  const candidates = resolved.includes("/") ? [resolved] : scriptPath.split(":").map((dir) => join(dir, resolved));
  for (const candidate of candidates) {
    if (!existsSync(candidate)) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return undefined;
    } catch {
      return `${candidate} is not executable (chmod +x it, or commit it with mode 755)`;
    }
  }
  return resolved.includes("/") ? `${resolved} does not exist` : `${resolved} is not found in ${scriptPath}`;
}

export interface StepTools {
  reporter: ProgressReporter;
  signal: AbortSignal;
  timeoutMs: number;
  inactivityMs: number;
}

/** Runs one step: reports started, then succeeded with its duration or failed with the reason. */
export async function runStep<T>(tools: StepTools, step: DeployStep, body: () => Promise<T>): Promise<T> {
  tools.reporter.step(step, "started");
  const startedAt = performance.now();
  try {
    if (tools.signal.aborted) throw new StepFailure(step, "cancelled", "cancelled");
    const value = await body();
    tools.reporter.step(step, "succeeded", `${step} took ${Math.round(performance.now() - startedAt)} ms`);
    return value;
  } catch (err) {
    const failure = asStepFailure(step, err, tools.signal);
    tools.reporter.step(step, "failed", failure.message);
    throw failure;
  }
}

export function asStepFailure(step: DeployStep, err: unknown, signal: AbortSignal): StepFailure {
  if (err instanceof StepFailure) return err;
  if (signal.aborted) return new StepFailure(step, "cancelled", "cancelled");
  return new StepFailure(step, "failed", err instanceof Error ? err.message : String(err));
}

/** Runs a command in a step, its output streamed; throws a StepFailure unless it exits 0. */
export async function runCommand(tools: StepTools, step: DeployStep, argv: readonly string[], cwd: string, as: RunAs, env: Record<string, string>): Promise<void> {
  const program = resolveProgram(argv[0] as string, cwd);
  if (program === undefined) throw new StepFailure(step, "failed", `${argv[0]} leads outside ${cwd}`);
  tools.reporter.line(step, "agent", `running ${[program, ...argv.slice(1)].join(" ")} as ${as.name}`);
  const result = await runStepCommand({
    argv: [program, ...argv.slice(1)],
    cwd,
    env,
    ...(as.switchTo ?? {}),
    timeoutMs: tools.timeoutMs,
    inactivityMs: tools.inactivityMs,
    signal: tools.signal,
    onLine: (stream, text) => tools.reporter.line(step, stream, text),
  });
  switch (result.outcome) {
    case "succeeded":
      return;
    case "failed":
      throw new StepFailure(step, "failed", `${argv[0]} ${result.signal ? `was killed by ${result.signal}` : `exited with ${result.exitCode}`}`);
    case "timeout":
      throw new StepFailure(
        step,
        "timeout",
        result.limit === "timeout" ? `${argv[0]} ran longer than ${tools.timeoutMs} ms and was killed` : `${argv[0]} printed nothing for ${tools.inactivityMs} ms and was killed`,
      );
    case "cancelled":
      throw new StepFailure(step, "cancelled", `cancelled while ${argv[0]} ran`);
    case "not-runnable":
      throw new StepFailure(step, "failed", result.reason);
    default: {
      const unreachable: never = result;
      return unreachable;
    }
  }
}

/** The health check of the verify step (and of hosts.alive), with relative commands resolved against the release. */
export function healthCheckOf(config: HealthCheckConfig, cwd: string): HealthCheck {
  const timing = { timeoutMs: config.timeout, retries: config.retries, intervalMs: config.interval };
  if (config.http !== undefined) return { http: config.http, ...(config.expectStatus ? { expectStatus: config.expectStatus } : {}), ...timing };
  const argv = config.command as string[];
  return { command: [resolveProgram(argv[0] as string, cwd) ?? "/nonexistent", ...argv.slice(1)], ...timing };
}

export async function runVerify(tools: StepTools, config: HealthCheckConfig, cwd: string, as: RunAs, env: Record<string, string>): Promise<void> {
  const result = await runHealthCheck(healthCheckOf(config, cwd), {
    cwd,
    env,
    ...(as.switchTo ?? {}),
    signal: tools.signal,
    onLine: (text) => tools.reporter.line("verify", "agent", text),
  });
  if (tools.signal.aborted) throw new StepFailure("verify", "cancelled", "cancelled during the health check");
  if (!result.healthy) throw new StepFailure("verify", "failed", `health check failed after ${result.attempts} attempts: ${result.detail}`);
}
