import type { Insertable, Transaction, Updateable } from "kysely";
import type { DeployStep } from "../../../shared/messages/types.ts";
import { FleetRecords } from "./fleet-records.ts";
import type { DeployFilter, DeployHostPatch, DeployHostRecord, DeployPatch, DeployRecord, Ledger, LogLine, NewDeploy, StepRecord } from "./ledger.ts";
import { deployFromRow, deployHostColumns, deployHostFromRow, logLineFromRow, stepFromRow } from "./ledger-rows.ts";
import type { DeploysTable, LedgerTables } from "./ledger-tables.ts";
import { retryOnConflict } from "./retry-on-conflict.ts";

// Rows per INSERT: PostgreSQL takes at most 65535 bind parameters per
// statement, and MySQL refuses statements over max_allowed_packet (16 MiB by
// default), which a few hundred long log lines can reach.
const rowsPerInsert = 500;
const textPerInsert = 1 << 20;

function chunks<T>(items: readonly T[], textOf: (item: T) => string = () => ""): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let text = 0;
  for (const item of items) {
    const length = textOf(item).length;
    if (current.length > 0 && (current.length >= rowsPerInsert || text + length > textPerInsert)) {
      out.push(current);
      current = [];
      text = 0;
    }
    current.push(item);
    text += length;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * The ledger over any of Kysely's SQLite, PostgreSQL and MySQL dialects; open
 * it with openLedger(). Deploys, their hosts, steps and logs are here; hosts,
 * builds, locks and the audit trail come from FleetRecords.
 */
export class KyselyLedger extends FleetRecords implements Ledger {
  async createDeploy(deploy: NewDeploy): Promise<DeployRecord> {
    const createdAt = new Date().toISOString();
    return retryOnConflict(() =>
      this.db.transaction().execute(async (trx) => {
        const existing = await trx.selectFrom("deploys").select("id").where("uid", "=", deploy.uid).executeTakeFirst();
        if (existing) throw new Error(`deploy ${deploy.uid} is already in the ledger as #${existing.id}: each deploy needs a new uid`);
        const { last } = await trx
          .selectFrom("deploys")
          .select((eb) => eb.fn.max<number | null>("number").as("last"))
          .where("app", "=", deploy.app)
          .where("environment", "=", deploy.environment)
          .executeTakeFirstOrThrow();
        // A concurrent conductor may take the same number: the unique key
        // (app, environment, number) fails one of us and retryOnConflict runs it again.
        const id = await this.#insertDeploy(trx, {
          uid: deploy.uid,
          app: deploy.app,
          environment: deploy.environment,
          number: Number(last ?? 0) + 1,
          action: deploy.action,
          ref: deploy.ref,
          sha: deploy.sha,
          previous_sha: deploy.previousSha,
          rollback_of: deploy.rollbackOf,
          actor: deploy.actor,
          forced: deploy.forced,
          requested_hosts: deploy.requestedHosts === null ? null : JSON.stringify(deploy.requestedHosts),
          state: "queued",
          message: null,
          created_at: createdAt,
          started_at: null,
          finished_at: null,
        });
        return deployFromRow(await trx.selectFrom("deploys").selectAll().where("id", "=", id).executeTakeFirstOrThrow());
      }),
    );
  }

  async #insertDeploy(trx: Transaction<LedgerTables>, row: Insertable<DeploysTable>): Promise<number> {
    const insert = trx.insertInto("deploys").values(row);
    // MySQL has no RETURNING; SQLite and MySQL report the new rowid as insertId, PostgreSQL does not.
    if (this.dialect === "postgres") return (await insert.returning("id").executeTakeFirstOrThrow()).id;
    const { insertId } = await insert.executeTakeFirstOrThrow();
    if (insertId === undefined) throw new Error(`the ${this.dialect} driver did not report the new deploy's id`);
    return Number(insertId);
  }

  async getDeploy(id: number): Promise<DeployRecord | undefined> {
    const row = await this.db.selectFrom("deploys").selectAll().where("id", "=", id).executeTakeFirst();
    return row && deployFromRow(row);
  }

  async getDeployByUid(uid: string): Promise<DeployRecord | undefined> {
    const row = await this.db.selectFrom("deploys").selectAll().where("uid", "=", uid).executeTakeFirst();
    return row && deployFromRow(row);
  }

  async listDeploys(filter: DeployFilter = {}): Promise<DeployRecord[]> {
    if (filter.states?.length === 0) return [];
    let query = this.db.selectFrom("deploys").selectAll();
    if (filter.app !== undefined) query = query.where("app", "=", filter.app);
    if (filter.environment !== undefined) query = query.where("environment", "=", filter.environment);
    if (filter.states !== undefined) query = query.where("state", "in", [...filter.states]);
    if (filter.beforeId !== undefined) query = query.where("id", "<", filter.beforeId);
    const rows = await query.orderBy("id", "desc").limit(this.limit(filter.limit, 50, 500)).execute();
    return rows.map(deployFromRow);
  }

  async updateDeploy(id: number, patch: DeployPatch): Promise<void> {
    const columns: Updateable<DeploysTable> = {};
    if (patch.state !== undefined) columns.state = patch.state;
    if (patch.message !== undefined) columns.message = patch.message;
    if (patch.startedAt !== undefined) columns.started_at = patch.startedAt;
    if (patch.finishedAt !== undefined) columns.finished_at = patch.finishedAt;
    if (Object.keys(columns).length === 0) return;
    await this.db.updateTable("deploys").set(columns).where("id", "=", id).execute();
  }

  async lastSucceeded(app: string, environment: string, beforeId?: number): Promise<DeployRecord | undefined> {
    let query = this.db
      .selectFrom("deploys")
      .selectAll()
      .where("app", "=", app)
      .where("environment", "=", environment)
      .where("state", "=", "succeeded");
    if (beforeId !== undefined) query = query.where("id", "<", beforeId);
    const row = await query.orderBy("id", "desc").limit(1).executeTakeFirst();
    return row && deployFromRow(row);
  }

  async addDeployHosts(deployId: number, hosts: readonly { host: string; batch: number }[]): Promise<void> {
    const rows = hosts.map(({ host, batch }) => ({ ...this.#newDeployHost(deployId, host), batch, unexpected: false }));
    if (rows.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const chunk of chunks(rows)) await trx.insertInto("deploy_hosts").values(chunk).execute();
    });
  }

  #newDeployHost(deployId: number, host: string): Insertable<LedgerTables["deploy_hosts"]> {
    return {
      deploy_id: deployId,
      host,
      batch: -1,
      outcome: "pending",
      unexpected: true,
      release: null,
      previous_release: null,
      failed_step: null,
      reason: null,
      requested_at: null,
      finished_at: null,
      duration_ms: null,
    };
  }

  async updateDeployHost(deployId: number, host: string, patch: DeployHostPatch): Promise<void> {
    const columns = deployHostColumns(patch);
    const insert = this.db.insertInto("deploy_hosts").values({ ...this.#newDeployHost(deployId, host), ...columns });
    // One statement, so two conductors hearing from the same unexpected host cannot both insert it.
    if (this.dialect === "mysql") {
      // An empty SET is a syntax error; assigning the key to itself changes nothing.
      await insert.onDuplicateKeyUpdate(Object.keys(columns).length > 0 ? columns : { host }).execute();
    } else {
      await insert
        .onConflict((conflict) => {
          const target = conflict.columns(["deploy_id", "host"]);
          return Object.keys(columns).length > 0 ? target.doUpdateSet(columns) : target.doNothing();
        })
        .execute();
    }
  }

  async deployHosts(deployId: number): Promise<DeployHostRecord[]> {
    const rows = await this.db.selectFrom("deploy_hosts").selectAll().where("deploy_id", "=", deployId).orderBy("batch").orderBy("host").execute();
    return rows.map(deployHostFromRow);
  }

  async recordStep(deployId: number, host: string, step: DeployStep, state: StepRecord["state"], time: string): Promise<void> {
    await retryOnConflict(() =>
      this.db.transaction().execute(async (trx) => {
        const existing = await trx
          .selectFrom("deploy_steps")
          .selectAll()
          .where("deploy_id", "=", deployId)
          .where("host", "=", host)
          .where("step", "=", step)
          .executeTakeFirst();
        switch (state) {
          case "started":
          case "running":
            if (!existing) {
              await trx
                .insertInto("deploy_steps")
                .values({ deploy_id: deployId, host, step, state, started_at: time, finished_at: null, duration_ms: null })
                .execute();
            } else if (existing.finished_at === null) {
              // started → running; a late progress message never reopens a finished step.
              await trx.updateTable("deploy_steps").set({ state }).where("deploy_id", "=", deployId).where("host", "=", host).where("step", "=", step).execute();
            }
            return;
          case "succeeded":
          case "failed":
          case "skipped": {
            if (!existing) {
              // The start was missed (the conductor restarted): the duration is unknown.
              await trx
                .insertInto("deploy_steps")
                .values({ deploy_id: deployId, host, step, state, started_at: time, finished_at: time, duration_ms: null })
                .execute();
              return;
            }
            const durationMs = Math.max(0, Date.parse(time) - Date.parse(existing.started_at));
            await trx
              .updateTable("deploy_steps")
              .set({ state, finished_at: time, duration_ms: Number.isFinite(durationMs) ? durationMs : null })
              .where("deploy_id", "=", deployId)
              .where("host", "=", host)
              .where("step", "=", step)
              .execute();
            return;
          }
          default: {
            const unknown: never = state;
            throw new Error(`unknown step state ${String(unknown)}`);
          }
        }
      }),
    );
  }

  async steps(deployId: number): Promise<StepRecord[]> {
    const rows = await this.db.selectFrom("deploy_steps").selectAll().where("deploy_id", "=", deployId).orderBy("host").orderBy("started_at").execute();
    return rows.map(stepFromRow);
  }

  async appendLog(deployId: number, host: string, lines: readonly Omit<LogLine, "host" | "offset">[]): Promise<LogLine[]> {
    if (lines.length === 0) return [];
    return retryOnConflict(() =>
      this.db.transaction().execute(async (trx) => {
        const { last } = await trx
          .selectFrom("deploy_logs")
          .select((eb) => eb.fn.max<number | null>("offset").as("last"))
          .where("deploy_id", "=", deployId)
          .where("host", "=", host)
          .executeTakeFirstOrThrow();
        const first = last === null ? 0 : Number(last) + 1;
        const stored = lines.map((line, index) => ({ host, offset: first + index, step: line.step, stream: line.stream, text: line.text, time: line.time }));
        for (const chunk of chunks(stored, (line) => line.text)) {
          await trx
            .insertInto("deploy_logs")
            .values(chunk.map((line) => ({ deploy_id: deployId, ...line })))
            .execute();
        }
        return stored;
      }),
    );
  }

  async readLog(deployId: number, options: { host?: string; offset?: number; limit?: number } = {}): Promise<LogLine[]> {
    let query = this.db.selectFrom("deploy_logs").select(["host", "offset", "step", "stream", "text", "time"]).where("deploy_id", "=", deployId);
    if (options.host !== undefined) query = query.where("host", "=", options.host);
    if (options.offset !== undefined) query = query.where("offset", ">=", options.offset);
    const rows = await query.orderBy("host").orderBy("offset").limit(this.limit(options.limit, 1000, 10_000)).execute();
    return rows.map(logLineFromRow);
  }
}
