import { type CreateTableBuilder, type Kysely, sql } from "kysely";
import type { Migration } from "kysely/migration";
import type { Dialect } from "./ledger.ts";

// The ledger's schema, portable across SQLite, PostgreSQL and MySQL/MariaDB.
// Migrations live in code (no files on disk to package) and are applied in
// name order; a migration, once released, is never edited: add the next one.
//
// Portable choices: times are ISO-8601 text (they sort as text everywhere),
// JSON is text, booleans are the dialect's boolean (0/1 on SQLite and MySQL).
// MySQL cannot index TEXT without a prefix length, so every indexed or key
// column is a VARCHAR with an explicit length. Strings compare and sort by
// their bytes on every dialect, as SQLite does: MySQL tables are utf8mb4 with
// a binary collation, PostgreSQL columns collate "C" whatever the database's
// locale, so names are case-sensitive and hosts list in the same order.

/** The ledger's migrations for one dialect, for Kysely's Migrator. */
export function migrations(dialect: Dialect): Record<string, Migration> {
  const varchar = (length: number) => sql.raw(dialect === "postgres" ? `varchar(${length}) collate "C"` : `varchar(${length})`);
  const time = varchar(30);
  const host = varchar(253);
  const name = varchar(128);
  const step = varchar(32);
  const word = varchar(16);
  const sha = varchar(64);
  const person = varchar(255);
  // MySQL's TEXT stops at 64 KiB; a host's facts can be bigger.
  const text = dialect === "mysql" ? sql`mediumtext` : sql`text`;

  // biome-ignore lint/suspicious/noExplicitAny: migrations run against the schema as it was, not LedgerTables
  function createTable(db: Kysely<any>, table: string): CreateTableBuilder<string, never> {
    const builder = db.schema.createTable(table);
    return dialect === "mysql" ? builder.modifyEnd(sql`engine=InnoDB default charset=utf8mb4 collate=utf8mb4_bin`) : builder;
  }

  function withId<T extends string>(builder: CreateTableBuilder<T, never>): CreateTableBuilder<T, "id"> {
    switch (dialect) {
      case "postgres":
        return builder.addColumn("id", "integer", (c) => c.primaryKey().generatedByDefaultAsIdentity());
      case "mysql":
      case "sqlite":
        // SQLite: AUTOINCREMENT so that ids are never reused, as on the others.
        return builder.addColumn("id", "integer", (c) => c.primaryKey().autoIncrement());
      default: {
        const unknown: never = dialect;
        throw new Error(`unknown ledger dialect ${String(unknown)}`);
      }
    }
  }

  return {
    "0001-initial": {
      async up(db) {
        await withId(createTable(db, "deploys"))
          .addColumn("uid", varchar(64), (c) => c.notNull())
          .addColumn("app", name, (c) => c.notNull())
          .addColumn("environment", name, (c) => c.notNull())
          .addColumn("number", "integer", (c) => c.notNull())
          .addColumn("action", word, (c) => c.notNull())
          .addColumn("ref", text, (c) => c.notNull())
          .addColumn("sha", sha, (c) => c.notNull())
          .addColumn("previous_sha", sha)
          .addColumn("rollback_of", "integer", (c) => c.references("deploys.id"))
          .addColumn("actor", person, (c) => c.notNull())
          .addColumn("forced", "boolean", (c) => c.notNull())
          .addColumn("requested_hosts", text)
          .addColumn("state", word, (c) => c.notNull())
          .addColumn("message", text)
          .addColumn("created_at", time, (c) => c.notNull())
          .addColumn("started_at", time)
          .addColumn("finished_at", time)
          .addUniqueConstraint("deploys_uid", ["uid"])
          .addUniqueConstraint("deploys_app_environment_number", ["app", "environment", "number"])
          .execute();
        await db.schema.createIndex("deploys_app_environment_id").on("deploys").columns(["app", "environment", "id"]).execute();

        await createTable(db, "deploy_hosts")
          .addColumn("deploy_id", "integer", (c) => c.notNull().references("deploys.id").onDelete("cascade"))
          .addColumn("host", host, (c) => c.notNull())
          .addColumn("batch", "integer", (c) => c.notNull())
          .addColumn("outcome", word, (c) => c.notNull())
          .addColumn("unexpected", "boolean", (c) => c.notNull())
          .addColumn("release", person)
          .addColumn("previous_release", person)
          .addColumn("failed_step", step)
          .addColumn("reason", text)
          .addColumn("requested_at", time)
          .addColumn("finished_at", time)
          .addColumn("duration_ms", "integer")
          .addPrimaryKeyConstraint("deploy_hosts_pk", ["deploy_id", "host"])
          .execute();

        await createTable(db, "deploy_steps")
          .addColumn("deploy_id", "integer", (c) => c.notNull().references("deploys.id").onDelete("cascade"))
          .addColumn("host", host, (c) => c.notNull())
          .addColumn("step", step, (c) => c.notNull())
          .addColumn("state", word, (c) => c.notNull())
          .addColumn("started_at", time, (c) => c.notNull())
          .addColumn("finished_at", time)
          .addColumn("duration_ms", "integer")
          .addPrimaryKeyConstraint("deploy_steps_pk", ["deploy_id", "host", "step"])
          .execute();

        await createTable(db, "deploy_logs")
          .addColumn("deploy_id", "integer", (c) => c.notNull().references("deploys.id").onDelete("cascade"))
          .addColumn("host", host, (c) => c.notNull())
          .addColumn("offset", "integer", (c) => c.notNull())
          .addColumn("step", step, (c) => c.notNull())
          .addColumn("stream", word, (c) => c.notNull())
          .addColumn("text", text, (c) => c.notNull())
          .addColumn("time", time, (c) => c.notNull())
          .addPrimaryKeyConstraint("deploy_logs_pk", ["deploy_id", "host", "offset"])
          .execute();

        await createTable(db, "hosts")
          .addColumn("host", host, (c) => c.primaryKey())
          .addColumn("first_seen", time, (c) => c.notNull())
          .addColumn("last_seen", time, (c) => c.notNull())
          .addColumn("event", word, (c) => c.notNull())
          .addColumn("facts", text, (c) => c.notNull())
          .addColumn("classes", text, (c) => c.notNull())
          .addColumn("apps", text, (c) => c.notNull())
          .addColumn("agent_version", varchar(64), (c) => c.notNull())
          .execute();

        await withId(createTable(db, "builds"))
          .addColumn("job", person, (c) => c.notNull())
          .addColumn("number", "integer")
          .addColumn("phase", word, (c) => c.notNull())
          .addColumn("repo", text)
          .addColumn("ref", text)
          .addColumn("sha", sha)
          .addColumn("url", text)
          .addColumn("time", time, (c) => c.notNull())
          .execute();
        await db.schema.createIndex("builds_sha_job_time").on("builds").columns(["sha", "job", "time"]).execute();

        await createTable(db, "locks")
          .addColumn("app", name, (c) => c.notNull())
          .addColumn("environment", name, (c) => c.notNull())
          .addColumn("actor", person, (c) => c.notNull())
          .addColumn("reason", text, (c) => c.notNull())
          .addColumn("created_at", time, (c) => c.notNull())
          .addColumn("expires_at", time)
          .addPrimaryKeyConstraint("locks_pk", ["app", "environment"])
          .execute();

        // No foreign key to deploys: the audit trail outlives anything it mentions.
        await withId(createTable(db, "audit"))
          .addColumn("time", time, (c) => c.notNull())
          .addColumn("actor", person, (c) => c.notNull())
          .addColumn("action", varchar(64), (c) => c.notNull())
          .addColumn("app", name)
          .addColumn("environment", name)
          .addColumn("deploy_id", "integer")
          .addColumn("detail", text, (c) => c.notNull())
          .execute();
        await db.schema.createIndex("audit_app_environment_id").on("audit").columns(["app", "environment", "id"]).execute();
        await db.schema.createIndex("audit_deploy_id").on("audit").columns(["deploy_id", "id"]).execute();
      },
    },
  };
}
