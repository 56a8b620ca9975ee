import type { Selectable, Updateable } from "kysely";
import type { DeployStep } from "../../../shared/messages/types.ts";
import type {
  AuditEntry,
  BuildRecord,
  DeployHostPatch,
  DeployHostRecord,
  DeployRecord,
  DeployState,
  HostOutcome,
  HostRecord,
  LockRecord,
  LogLine,
  StepRecord,
} from "./ledger.ts";
import type {
  AuditTable,
  BuildsTable,
  DeployHostsTable,
  DeployLogsTable,
  DeployStepsTable,
  DeploysTable,
  HostsTable,
  LocksTable,
} from "./ledger-tables.ts";

// Rows as the drivers return them → the records of ledger.ts. The casts to
// closed unions trust the database: only the ledger writes these columns.

/** 0/1 from SQLite and MySQL, true/false from PostgreSQL. */
function flag(value: boolean | number): boolean {
  return value === true || value === 1;
}

function json<T>(text: string | null, fallback: T): T {
  return text === null ? fallback : (JSON.parse(text) as T);
}

export function deployFromRow(row: Selectable<DeploysTable>): DeployRecord {
  return {
    id: row.id,
    uid: row.uid,
    app: row.app,
    environment: row.environment,
    number: row.number,
    action: row.action as DeployRecord["action"],
    ref: row.ref,
    sha: row.sha,
    previousSha: row.previous_sha,
    rollbackOf: row.rollback_of,
    actor: row.actor,
    forced: flag(row.forced),
    requestedHosts: json<string[] | null>(row.requested_hosts, null),
    state: row.state as DeployState,
    message: row.message,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export function deployHostFromRow(row: Selectable<DeployHostsTable>): DeployHostRecord {
  return {
    deployId: row.deploy_id,
    host: row.host,
    batch: row.batch,
    outcome: row.outcome as HostOutcome,
    unexpected: flag(row.unexpected),
    release: row.release,
    previousRelease: row.previous_release,
    failedStep: row.failed_step as DeployStep | null,
    reason: row.reason,
    requestedAt: row.requested_at,
    finishedAt: row.finished_at,
    durationMs: row.duration_ms,
  };
}

/** The columns a DeployHostPatch sets; keys absent from the patch are absent here. */
export function deployHostColumns(patch: DeployHostPatch): Updateable<DeployHostsTable> {
  const columns: Updateable<DeployHostsTable> = {};
  if (patch.batch !== undefined) columns.batch = patch.batch;
  if (patch.outcome !== undefined) columns.outcome = patch.outcome;
  if (patch.unexpected !== undefined) columns.unexpected = patch.unexpected;
  if (patch.release !== undefined) columns.release = patch.release;
  if (patch.previousRelease !== undefined) columns.previous_release = patch.previousRelease;
  if (patch.failedStep !== undefined) columns.failed_step = patch.failedStep;
  if (patch.reason !== undefined) columns.reason = patch.reason;
  if (patch.requestedAt !== undefined) columns.requested_at = patch.requestedAt;
  if (patch.finishedAt !== undefined) columns.finished_at = patch.finishedAt;
  if (patch.durationMs !== undefined) columns.duration_ms = patch.durationMs;
  return columns;
}

export function stepFromRow(row: Selectable<DeployStepsTable>): StepRecord {
  return {
    deployId: row.deploy_id,
    host: row.host,
    step: row.step as DeployStep,
    state: row.state as StepRecord["state"],
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    durationMs: row.duration_ms,
  };
}

export function logLineFromRow(row: Pick<Selectable<DeployLogsTable>, "host" | "offset" | "step" | "stream" | "text" | "time">): LogLine {
  return {
    host: row.host,
    offset: row.offset,
    step: row.step as DeployStep,
    stream: row.stream as LogLine["stream"],
    text: row.text,
    time: row.time,
  };
}

export function hostFromRow(row: Selectable<HostsTable>): HostRecord {
  return {
    host: row.host,
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    event: row.event,
    facts: json(row.facts, {}),
    classes: json(row.classes, []),
    apps: json(row.apps, {}),
    agentVersion: row.agent_version,
  };
}

export function buildFromRow(row: Selectable<BuildsTable>): BuildRecord {
  return {
    job: row.job,
    number: row.number,
    phase: row.phase as BuildRecord["phase"],
    repo: row.repo,
    ref: row.ref,
    sha: row.sha,
    url: row.url,
    time: row.time,
  };
}

export function lockFromRow(row: Selectable<LocksTable>): LockRecord {
  return {
    app: row.app,
    environment: row.environment,
    actor: row.actor,
    reason: row.reason,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}

export function auditFromRow(row: Selectable<AuditTable>): AuditEntry {
  return {
    id: row.id,
    time: row.time,
    actor: row.actor,
    action: row.action,
    app: row.app,
    environment: row.environment,
    deployId: row.deploy_id,
    detail: json(row.detail, {}),
  };
}
