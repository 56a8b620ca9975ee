import type { Kysely } from "kysely";
import type { AuditEntry, BuildRecord, Dialect, HostRecord, LockRecord } from "./ledger.ts";
import { auditFromRow, buildFromRow, hostFromRow, lockFromRow } from "./ledger-rows.ts";
import type { LedgerTables } from "./ledger-tables.ts";

/**
 * The half of the ledger that is not about one deploy: the hosts the fleet
 * reported, CI builds, environment locks and the audit trail. KyselyLedger
 * adds the deploys themselves.
 */
export class FleetRecords {
  readonly dialect: Dialect;
  protected readonly db: Kysely<LedgerTables>;

  constructor(db: Kysely<LedgerTables>, dialect: Dialect) {
    this.db = db;
    this.dialect = dialect;
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  /** At least 1, at most `most`, `fallback` when not given. */
  protected limit(requested: number | undefined, fallback: number, most: number): number {
    if (requested === undefined || !Number.isFinite(requested)) return fallback;
    return Math.min(most, Math.max(1, Math.trunc(requested)));
  }

  async upsertHost(host: Omit<HostRecord, "firstSeen">): Promise<void> {
    const columns = {
      last_seen: host.lastSeen,
      event: host.event,
      facts: JSON.stringify(host.facts),
      classes: JSON.stringify(host.classes),
      apps: JSON.stringify(host.apps),
      agent_version: host.agentVersion,
    };
    const insert = this.db.insertInto("hosts").values({ host: host.host, first_seen: host.lastSeen, ...columns });
    // first_seen is set once, by the insert; the update leaves it alone.
    await (this.dialect === "mysql" ? insert.onDuplicateKeyUpdate(columns) : insert.onConflict((c) => c.column("host").doUpdateSet(columns))).execute();
  }

  async listHosts(): Promise<HostRecord[]> {
    const rows = await this.db.selectFrom("hosts").selectAll().orderBy("host").execute();
    return rows.map(hostFromRow);
  }

  async getHost(host: string): Promise<HostRecord | undefined> {
    const row = await this.db.selectFrom("hosts").selectAll().where("host", "=", host).executeTakeFirst();
    return row && hostFromRow(row);
  }

  async recordBuild(build: BuildRecord): Promise<void> {
    await this.db
      .insertInto("builds")
      .values({
        job: build.job,
        number: build.number,
        phase: build.phase,
        repo: build.repo,
        ref: build.ref,
        sha: build.sha,
        url: build.url,
        time: build.time,
      })
      .execute();
  }

  /** Ordered by job. */
  async buildsForSha(sha: string): Promise<BuildRecord[]> {
    // Few rows per sha: pick each job's newest here rather than with a
    // window function, which older MySQL lacks. id breaks ties in time.
    const rows = await this.db.selectFrom("builds").selectAll().where("sha", "=", sha).orderBy("job").orderBy("time", "desc").orderBy("id", "desc").execute();
    const latest: BuildRecord[] = [];
    for (const row of rows) if (latest.at(-1)?.job !== row.job) latest.push(buildFromRow(row));
    return latest;
  }

  async getLock(app: string, environment: string): Promise<LockRecord | undefined> {
    const row = await this.db.selectFrom("locks").selectAll().where("app", "=", app).where("environment", "=", environment).executeTakeFirst();
    if (!row) return undefined;
    if (row.expires_at !== null && row.expires_at <= new Date().toISOString()) {
      // Only this expired lock: another conductor may have set a new one since.
      await this.db
        .deleteFrom("locks")
        .where("app", "=", app)
        .where("environment", "=", environment)
        .where("expires_at", "=", row.expires_at)
        .execute();
      return undefined;
    }
    return lockFromRow(row);
  }

  async setLock(lock: LockRecord): Promise<void> {
    const columns = { actor: lock.actor, reason: lock.reason, created_at: lock.createdAt, expires_at: lock.expiresAt };
    const insert = this.db.insertInto("locks").values({ app: lock.app, environment: lock.environment, ...columns });
    await (
      this.dialect === "mysql" ? insert.onDuplicateKeyUpdate(columns) : insert.onConflict((c) => c.columns(["app", "environment"]).doUpdateSet(columns))
    ).execute();
  }

  async clearLock(app: string, environment: string): Promise<boolean> {
    const now = new Date().toISOString();
    // An expired lock is no lock: it goes, but does not count as cleared.
    const cleared = await this.db
      .deleteFrom("locks")
      .where("app", "=", app)
      .where("environment", "=", environment)
      .where((eb) => eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]))
      .executeTakeFirst();
    await this.db.deleteFrom("locks").where("app", "=", app).where("environment", "=", environment).where("expires_at", "<=", now).execute();
    return cleared.numDeletedRows > 0n;
  }

  /** The locks in force, by app and environment; expired ones are deleted. */
  async listLocks(): Promise<LockRecord[]> {
    await this.db.deleteFrom("locks").where("expires_at", "<=", new Date().toISOString()).execute();
    const rows = await this.db.selectFrom("locks").selectAll().orderBy("app").orderBy("environment").execute();
    return rows.map(lockFromRow);
  }

  async audit(entry: Omit<AuditEntry, "id" | "time"> & { time?: string }): Promise<void> {
    await this.db
      .insertInto("audit")
      .values({
        time: entry.time ?? new Date().toISOString(),
        actor: entry.actor,
        action: entry.action,
        app: entry.app,
        environment: entry.environment,
        deploy_id: entry.deployId,
        detail: JSON.stringify(entry.detail),
      })
      .execute();
  }

  /** Newest first; default limit 100, at most 1000. */
  async listAudit(filter: { app?: string; environment?: string; deployId?: number; limit?: number } = {}): Promise<AuditEntry[]> {
    let query = this.db.selectFrom("audit").selectAll();
    if (filter.app !== undefined) query = query.where("app", "=", filter.app);
    if (filter.environment !== undefined) query = query.where("environment", "=", filter.environment);
    if (filter.deployId !== undefined) query = query.where("deploy_id", "=", filter.deployId);
    const rows = await query.orderBy("id", "desc").limit(this.limit(filter.limit, 100, 1000)).execute();
    return rows.map(auditFromRow);
  }
}
