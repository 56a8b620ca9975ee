import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type Dialect as KyselyDialect, Kysely, MysqlDialect, PostgresDialect, SqliteDialect, sql } from "kysely";
import { Migrator } from "kysely/migration";
import type { Logger } from "pino";
import { envName } from "../../../shared/config/config-schema.ts";
import { KyselyLedger } from "./kysely-ledger.ts";
import type { Dialect, Ledger } from "./ledger.ts";
import type { LedgerTables } from "./ledger-tables.ts";
import { migrations } from "./migrations.ts";
import { sqliteDatabase } from "./sqlite-database.ts";

export interface OpenLedgerOptions {
  log?: Logger;
}

const setting = `conductor.database (${envName("conductor", "database")})`;
const forms =
  "sqlite:/path/ledger.sqlite (or a plain path ending in .sqlite or .db), " +
  "postgres://user:password@host:5432/database (or postgresql://), " +
  "mysql://user:password@host:3306/database (or mariadb://)";

const serverNames = { postgres: "PostgreSQL", mysql: "MySQL/MariaDB" } as const;
const defaultPorts = { postgres: 5432, mysql: 3306 } as const;

type Target =
  | { dialect: "sqlite"; path: string }
  /** where: the URL without its password, for messages. */
  | { dialect: "postgres" | "mysql"; url: string; where: string; database: string };

/**
 * Opens the conductor's ledger named by a URL and brings its schema up to
 * date. sqlite:/path (also sqlite:relative, sqlite::memory: and a plain path
 * ending in .sqlite or .db), postgres:// or postgresql://, mysql:// or mariadb://.
 */
export async function openLedger(url: string, options: OpenLedgerOptions = {}): Promise<Ledger> {
  const target = parseTarget(url);
  const where = target.dialect === "sqlite" ? target.path : target.where;
  const db = new Kysely<LedgerTables>({ dialect: await kyselyDialect(target, options.log) });
  try {
    await sql`select 1`.execute(db).catch((error: unknown) => {
      throw target.dialect === "sqlite" ? error : connectError(target, error);
    });
    await migrate(db, target.dialect, where, options.log);
  } catch (error) {
    await db.destroy().catch(() => {});
    throw error;
  }
  options.log?.debug({ dialect: target.dialect, database: where }, "ledger open");
  return new KyselyLedger(db, target.dialect);
}

function parseTarget(url: string): Target {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === "sqlite") {
    // sqlite:/abs, sqlite:rel and the URL-ish sqlite:///abs all name a file.
    const rest = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
    if (rest === ":memory:") return { dialect: "sqlite", path: rest };
    if (rest === "") throw new Error(`the ledger URL "sqlite:" names no file; use one of: ${forms}. Set ${setting}`);
    return { dialect: "sqlite", path: resolve(rest) };
  }
  if (scheme === "postgres" || scheme === "postgresql" || scheme === "mysql" || scheme === "mariadb") {
    return serverTarget(url, scheme === "postgres" || scheme === "postgresql" ? "postgres" : "mysql");
  }
  if (scheme === undefined && /\.(sqlite3?|db)$/i.test(url)) {
    return { dialect: "sqlite", path: resolve(url) };
  }
  // Never echo the URL: it may hold a password.
  const what = scheme === undefined ? "has no scheme" : `has the unknown scheme "${scheme}:"`;
  throw new Error(`the ledger database URL ${what}; use one of: ${forms}. Set ${setting}`);
}

function serverTarget(url: string, dialect: "postgres" | "mysql"): Target {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(
      `the ${serverNames[dialect]} ledger URL in ${setting} cannot be parsed: percent-encode special characters in the user and password (e.g. @ as %40, / as %2F); expected ${forms}`,
    );
  }
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  const user = parsed.username ? `${decodeURIComponent(parsed.username)}@` : "";
  const where = `${parsed.protocol}//${user}${parsed.hostname || "localhost"}:${parsed.port || defaultPorts[dialect]}/${database}`;
  return { dialect, url, where, database };
}

// The PostgreSQL and MySQL drivers are loaded only by a conductor that uses them.
async function kyselyDialect(target: Target, log: Logger | undefined): Promise<KyselyDialect> {
  switch (target.dialect) {
    case "sqlite":
      try {
        if (target.path !== ":memory:") mkdirSync(dirname(target.path), { recursive: true, mode: 0o700 });
        return new SqliteDialect({ database: sqliteDatabase(target.path) });
      } catch (error) {
        throw new Error(
          `cannot open the SQLite ledger ${target.path}: ${(error as Error).message}; check that the conductor's user may write to ${dirname(target.path)} and that the file is an SQLite database, or set ${setting}`,
          { cause: error },
        );
      }
    case "postgres": {
      const { default: pg } = await import("pg");
      const pool = new pg.Pool({ connectionString: target.url, max: 10, connectionTimeoutMillis: 10_000 });
      // An idle client that loses its server emits on the pool; unheard, that would end the process.
      pool.on("error", (err) => log?.warn({ err, database: target.where }, "ledger: an idle PostgreSQL connection failed; the next query opens a new one"));
      return new PostgresDialect({ pool });
    }
    case "mysql": {
      const { createPool } = await import("mysql2");
      return new MysqlDialect({ pool: createPool({ uri: target.url, connectionLimit: 10, connectTimeout: 10_000, charset: "utf8mb4" }) });
    }
    default: {
      const unknown: never = target;
      throw new Error(`unknown ledger target ${JSON.stringify(unknown)}`);
    }
  }
}

/** The driver's failure to connect, as an operator can act on it: where, why, what to do. */
function connectError(target: Extract<Target, { dialect: "postgres" | "mysql" }>, error: unknown): Error {
  const server = serverNames[target.dialect];
  const { code, errno, message } = error as { code?: unknown; errno?: unknown; message?: unknown };
  // pg reports refusals on every address of a name as an AggregateError with no message of its own.
  const reason = typeof message === "string" && message !== "" ? message : String(code ?? error);
  let fix: string;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    fix = `the host name does not resolve here: check the host in ${setting}`;
  } else if (code === "ECONNREFUSED" || code === "ETIMEDOUT" || code === "EHOSTUNREACH" || /timeout/i.test(reason)) {
    fix = `is ${server} running and reachable from this host? Check the host and port in ${setting}`;
  } else if (code === "28P01" || code === "28000" || errno === 1045 || errno === 1044) {
    fix = `check the user and password in ${setting}, and that the server lets that user in from this host (PostgreSQL: pg_hba.conf and CREATE ROLE; MySQL: CREATE USER and GRANT)`;
  } else if (code === "3D000" || errno === 1049) {
    fix =
      target.dialect === "postgres"
        ? `create it (CREATE DATABASE "${target.database}") or name an existing one in ${setting}`
        : `create it (CREATE DATABASE \`${target.database}\` CHARACTER SET utf8mb4) or name an existing one in ${setting}`;
  } else {
    fix = `check ${setting}`;
  }
  return new Error(`cannot connect to the ${server} ledger ${target.where}: ${reason}; ${fix}`, { cause: error });
}

async function migrate(db: Kysely<LedgerTables>, dialect: Dialect, where: string, log: Logger | undefined): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations(dialect) },
    migrationTableName: "ledger_migration",
    migrationLockTableName: "ledger_migration_lock",
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  for (const result of results) {
    if (result.status === "Success") log?.info({ migration: result.migrationName, database: where }, "ledger migrated");
  }
  if (error === undefined) return;
  const message = error instanceof Error ? error.message : String(error);
  if (/corrupted migrations/i.test(message)) {
    throw new Error(`the ledger ${where} was migrated by a newer deploykit (${message}); upgrade this conductor to the version the others run`, {
      cause: error,
    });
  }
  const failed = results.find((result) => result.status === "Error")?.migrationName ?? "setup";
  const cleanup =
    dialect === "mysql" ? " MySQL cannot roll schema changes back: drop what the failed migration created before the next start." : "";
  throw new Error(`ledger ${where}: migration ${failed} failed: ${message}.${cleanup} Fix the cause and restart the conductor`, { cause: error });
}
