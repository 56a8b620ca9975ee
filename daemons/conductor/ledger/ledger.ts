import type { DeployStep } from "../../../shared/messages/types.ts";

// The conductor's record of everything: the contract between the rollout code
// and the database. One implementation (kysely-ledger.ts) serves SQLite,
// PostgreSQL and MySQL/MariaDB. Times are ISO-8601 strings in UTC with
// milliseconds (Date#toISOString), so they sort as text on every dialect.

export const deployStates = ["queued", "running", "succeeded", "failed", "cancelled", "interrupted"] as const;
export type DeployState = (typeof deployStates)[number];
/** States a deploy never leaves. */
export const finishedStates: readonly DeployState[] = ["succeeded", "failed", "cancelled", "interrupted"];

export const hostOutcomes = ["pending", "succeeded", "failed", "rolled-back", "refused", "timeout", "skipped"] as const;
export type HostOutcome = (typeof hostOutcomes)[number];

export type Dialect = "sqlite" | "postgres" | "mysql";

export interface DeployRecord {
  /** Global number, what people and the API use (`deploykit logs 17`). */
  id: number;
  /** The deployId on the bus (a UUID): requests, progress and results carry it. */
  uid: string;
  app: string;
  environment: string;
  /** 1, 2, 3… per app and environment ("shop/production #42"). */
  number: number;
  action: "deploy" | "rollback";
  ref: string;
  sha: string;
  /** What the environment ran before (the last succeeded deploy's sha), null for the first. */
  previousSha: string | null;
  /** For a rollback: the deploy it undoes. */
  rollbackOf: number | null;
  actor: string;
  /** The CI gate was overridden by an admin. */
  forced: boolean;
  /** Hosts the person asked for (a subset of the environment's targets), null for all. */
  requestedHosts: string[] | null;
  state: DeployState;
  /** Why it failed, was cancelled or interrupted; a human sentence. */
  message: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface NewDeploy {
  uid: string;
  app: string;
  environment: string;
  action: "deploy" | "rollback";
  ref: string;
  sha: string;
  previousSha: string | null;
  rollbackOf: number | null;
  actor: string;
  forced: boolean;
  requestedHosts: string[] | null;
}

export type DeployPatch = Partial<Pick<DeployRecord, "state" | "message" | "startedAt" | "finishedAt">>;

export interface DeployFilter {
  app?: string;
  environment?: string;
  states?: readonly DeployState[];
  /** Only deploys with an id below this (paging backwards). */
  beforeId?: number;
  /** Default 50, at most 500. */
  limit?: number;
}

export interface DeployHostRecord {
  deployId: number;
  host: string;
  /** 0 is the canary batch. */
  batch: number;
  outcome: HostOutcome;
  /** Answered although not expected (not in the plan): flagged, never counted. */
  unexpected: boolean;
  release: string | null;
  previousRelease: string | null;
  failedStep: DeployStep | null;
  reason: string | null;
  /** When the signed request for this host's batch was published. */
  requestedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}

export type DeployHostPatch = Partial<Omit<DeployHostRecord, "deployId" | "host">>;

export interface StepRecord {
  deployId: number;
  host: string;
  step: DeployStep;
  state: "started" | "running" | "succeeded" | "failed" | "skipped";
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
}

export interface LogLine {
  host: string;
  /** 0, 1, 2… per deploy and host, in arrival order. */
  offset: number;
  step: DeployStep;
  stream: "stdout" | "stderr" | "agent";
  text: string;
  time: string;
}

export interface HostRecord {
  host: string;
  firstSeen: string;
  lastSeen: string;
  /** startup, alive or shutdown: the last hosts.alive event. */
  event: string;
  facts: Record<string, unknown>;
  classes: string[];
  /** hosts.alive's apps: name → { release, ref, sha, since, health, deploying }. */
  apps: Record<string, Record<string, unknown>>;
  agentVersion: string;
}

export interface BuildRecord {
  job: string;
  number: number | null;
  phase: "queued" | "started" | "succeeded" | "failed" | "aborted";
  repo: string | null;
  ref: string | null;
  sha: string | null;
  url: string | null;
  time: string;
}

export interface LockRecord {
  app: string;
  environment: string;
  actor: string;
  reason: string;
  createdAt: string;
  /** null: until unlocked. */
  expiresAt: string | null;
}

export interface AuditEntry {
  id: number;
  time: string;
  actor: string;
  /** deploy, rollback, cancel, lock, unlock, force, token… */
  action: string;
  app: string | null;
  environment: string | null;
  deployId: number | null;
  detail: Record<string, unknown>;
}

export interface Ledger {
  readonly dialect: Dialect;
  close(): Promise<void>;

  /** Assigns id and the next number for its app and environment; state queued, createdAt now. */
  createDeploy(deploy: NewDeploy): Promise<DeployRecord>;
  getDeploy(id: number): Promise<DeployRecord | undefined>;
  getDeployByUid(uid: string): Promise<DeployRecord | undefined>;
  /** Newest first. */
  listDeploys(filter?: DeployFilter): Promise<DeployRecord[]>;
  updateDeploy(id: number, patch: DeployPatch): Promise<void>;
  /** The newest succeeded deploy of this app and environment, optionally only those older than a deploy id. */
  lastSucceeded(app: string, environment: string, beforeId?: number): Promise<DeployRecord | undefined>;

  /** Adds the planned hosts, outcome pending. */
  addDeployHosts(deployId: number, hosts: readonly { host: string; batch: number }[]): Promise<void>;
  /** Inserts the row when missing (an unexpected host: batch -1, unexpected true unless the patch says otherwise). */
  updateDeployHost(deployId: number, host: string, patch: DeployHostPatch): Promise<void>;
  /** Ordered by batch, then host. */
  deployHosts(deployId: number): Promise<DeployHostRecord[]>;

  /** started/running: inserts (or keeps) the step; succeeded/failed/skipped: sets finishedAt and durationMs (inserting when the start was missed). */
  recordStep(deployId: number, host: string, step: DeployStep, state: StepRecord["state"], time: string): Promise<void>;
  /** Ordered by host, then startedAt. */
  steps(deployId: number): Promise<StepRecord[]>;

  /** Appends lines for one host, numbering them after the last stored offset; returns the stored lines. */
  appendLog(deployId: number, host: string, lines: readonly Omit<LogLine, "host" | "offset">[]): Promise<LogLine[]>;
  /** Lines ordered by host then offset; with host, only that host's from offset on. Default limit 1000, at most 10000. */
  readLog(deployId: number, options?: { host?: string; offset?: number; limit?: number }): Promise<LogLine[]>;

  /** Insert or replace by host (firstSeen kept). */
  upsertHost(host: Omit<HostRecord, "firstSeen">): Promise<void>;
  listHosts(): Promise<HostRecord[]>;
  getHost(host: string): Promise<HostRecord | undefined>;

  recordBuild(build: BuildRecord): Promise<void>;
  /** Per job, the latest record (by time) for this sha. */
  buildsForSha(sha: string): Promise<BuildRecord[]>;

  /** Undefined when there is none or it has expired (expired locks are deleted). */
  getLock(app: string, environment: string): Promise<LockRecord | undefined>;
  /** Replaces any lock on the same app and environment. */
  setLock(lock: LockRecord): Promise<void>;
  /** False when there was none. */
  clearLock(app: string, environment: string): Promise<boolean>;
  listLocks(): Promise<LockRecord[]>;

  audit(entry: Omit<AuditEntry, "id" | "time"> & { time?: string }): Promise<void>;
  /** Newest first. */
  listAudit(filter?: { app?: string; environment?: string; deployId?: number; limit?: number }): Promise<AuditEntry[]>;
}
