import type { ColumnType, Generated } from "kysely";

// The ledger's tables as Kysely sees them (snake_case, as stored). Booleans
// come back as 0/1 from SQLite and MySQL; JSON columns are text holding JSON;
// times are ISO-8601 text. ledger-rows.ts turns rows into the records of ledger.ts.

type Flag = ColumnType<boolean | number, boolean, boolean>;

export interface DeploysTable {
  id: Generated<number>;
  uid: string;
  app: string;
  environment: string;
  number: number;
  action: string;
  ref: string;
  sha: string;
  previous_sha: string | null;
  rollback_of: number | null;
  actor: string;
  forced: Flag;
  /** JSON array of host names, or null for all. */
  requested_hosts: string | null;
  state: string;
  message: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export interface DeployHostsTable {
  deploy_id: number;
  host: string;
  batch: number;
  outcome: string;
  unexpected: Flag;
  release: string | null;
  previous_release: string | null;
  failed_step: string | null;
  reason: string | null;
  requested_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
}

export interface DeployStepsTable {
  deploy_id: number;
  host: string;
  step: string;
  state: string;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
}

export interface DeployLogsTable {
  deploy_id: number;
  host: string;
  offset: number;
  step: string;
  stream: string;
  text: string;
  time: string;
}

export interface HostsTable {
  host: string;
  first_seen: string;
  last_seen: string;
  event: string;
  /** JSON object. */
  facts: string;
  /** JSON array. */
  classes: string;
  /** JSON object. */
  apps: string;
  agent_version: string;
}

export interface BuildsTable {
  id: Generated<number>;
  job: string;
  number: number | null;
  phase: string;
  repo: string | null;
  ref: string | null;
  sha: string | null;
  url: string | null;
  time: string;
}

export interface LocksTable {
  app: string;
  environment: string;
  actor: string;
  reason: string;
  created_at: string;
  expires_at: string | null;
}

export interface AuditTable {
  id: Generated<number>;
  time: string;
  actor: string;
  action: string;
  app: string | null;
  environment: string | null;
  deploy_id: number | null;
  /** JSON object. */
  detail: string;
}

export interface LedgerTables {
  deploys: DeploysTable;
  deploy_hosts: DeployHostsTable;
  deploy_steps: DeployStepsTable;
  deploy_logs: DeployLogsTable;
  hosts: HostsTable;
  builds: BuildsTable;
  locks: LocksTable;
  audit: AuditTable;
}
