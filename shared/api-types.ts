// The JSON shapes of the conductor's REST API, as docs/conductor-api.md states
// them: the contract the CLI and the web UI (frontend/) both read. They
// describe, they do not validate. Types only (and one constant), so the
// browser bundle can import this file as it is.

export type DeployState = "queued" | "running" | "succeeded" | "failed" | "cancelled" | "interrupted";
export type HostOutcome = "pending" | "succeeded" | "failed" | "rolled-back" | "refused" | "timeout" | "skipped";
export type StepState = "started" | "running" | "succeeded" | "failed" | "skipped";

export const finishedStates: readonly DeployState[] = ["succeeded", "failed", "cancelled", "interrupted"];

export interface Deploy {
  id: number;
  uid: string;
  app: string;
  environment: string;
  number: number;
  action: "deploy" | "rollback";
  ref: string;
  sha: string;
  previousSha: string | null;
  rollbackOf: number | null;
  actor: string;
  forced: boolean;
  requestedHosts: string[] | null;
  state: DeployState;
  message: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Queued deploys: 1 = next to start. */
  position?: number;
}

export interface DeployHost {
  host: string;
  /** 0 is the canary batch. */
  batch: number;
  outcome: HostOutcome;
  unexpected: boolean;
  release: string | null;
  previousRelease: string | null;
  failedStep: string | null;
  reason: string | null;
  requestedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}

export interface Step {
  host: string;
  step: string;
  state: StepState;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
}

export interface LogLine {
  host: string;
  offset: number;
  step: string;
  stream: "stdout" | "stderr" | "agent";
  text: string;
  time: string;
}

/** `GET /deploys/:id`, and the stream's first event. */
export interface DeploySnapshot {
  deploy: Deploy;
  hosts: DeployHost[];
  steps: Step[];
  /** canary: the batch is the environment's canary (batch 0 when it has one). */
  batches: { batch: number; hosts: string[]; canary?: boolean }[];
}

export interface Lock {
  app: string;
  environment: string;
  actor: string;
  reason: string;
  createdAt: string;
  expiresAt: string | null;
}

export interface HostApp {
  release?: string | null;
  ref?: string | null;
  sha?: string | null;
  since?: string | null;
  health?: string | null;
}

export interface Host {
  host: string;
  alive: boolean;
  firstSeen: string;
  lastSeen: string;
  event: string;
  facts: Record<string, unknown>;
  classes: string[];
  apps: Record<string, HostApp>;
  agentVersion: string;
}

export interface EnvironmentHost {
  host: string;
  alive: boolean;
  release: string | null;
  ref: string | null;
  sha: string | null;
  health: string | null;
  since?: string | null;
  deploying?: string | null;
}

export interface AppEnvironment {
  name: string;
  lock: Lock | null;
  lockRequired?: boolean;
  gate?: { jobs: string[] } | null;
  running: Deploy | null;
  queued: number;
  current: { ref: string; sha: string; deployId: number; finishedAt?: string | null } | null;
  hosts: EnvironmentHost[];
}

export interface App {
  name: string;
  url: string;
  repo?: string;
  description?: string | null;
  environments: AppEnvironment[];
}

export type Role = "viewer" | "deployer" | "admin";

/** GET /whoami: the token's name and role. */
export interface WhoAmI {
  name: string;
  role: Role;
}

export type BuildStatus = "passed" | "failed" | "running" | "unknown";

export interface GateVerdict {
  status: BuildStatus;
  jobs: { job: string; phase: string; number: number | null; url: string | null }[];
}

export interface PlanHost {
  host: string;
  /** What the host runs now; null: never deployed. */
  from: { release: string | null; ref: string | null; sha: string | null } | null;
  /** Already on the sha this deploy brings. */
  unchanged: boolean;
}

/** POST /plans: a deploy as it would go out now. */
export interface Plan {
  app: string;
  environment: string;
  ref: string;
  sha: string;
  previousSha: string | null;
  previousRef: string | null;
  /** null: the environment has no CI gate. */
  gate: GateVerdict | null;
  forced: boolean;
  rollout: { canary: number; pauseMs: number };
  batches: { batch: number; canary: boolean; hosts: PlanHost[] }[];
  /** What it would queue behind: not a refusal. */
  running: Deploy | null;
  queued: number;
}

export interface ApiErrorBody {
  error: { code: string; message: string };
}

export interface Ref {
  name: string;
  kind: "tag" | "branch";
  sha: string;
  build: BuildStatus;
  jobs: { job: string; number: number | null; phase: string; url: string | null }[];
}

export interface Health {
  status: string;
  version: string;
  ledger: string;
}

export interface NewDeployRequest {
  app: string;
  environment: string;
  ref: string;
  hosts?: string[];
  force?: boolean;
}

export interface DeployQuery {
  app?: string;
  environment?: string;
  state?: DeployState;
  limit?: number;
  before?: number;
}

export interface LogQuery {
  host?: string;
  offset?: number;
  limit?: number;
}

export type LockRequest = { reason: string; expiresAt?: string; expiresIn?: string };
