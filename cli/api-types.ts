// The JSON shapes of the conductor's REST API, as docs/conductor-api.md states
// them. The CLI reads what it needs and passes the rest through (--json), so
// these types describe, they do not validate.

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

export interface AppEnvironment {
  name: string;
  lock: Lock | null;
  running: Deploy | null;
  queued: number;
  current: { ref: string; sha: string; deployId: number } | null;
  hosts: { host: string; alive: boolean; release: string | null; ref: string | null; sha: string | null; health: string | null }[];
}

export interface App {
  name: string;
  url: string;
  environments: AppEnvironment[];
}

export interface Ref {
  name: string;
  kind: "tag" | "branch";
  sha: string;
  build: "passed" | "failed" | "running" | "unknown";
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
