import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import type { SqliteDatabase, SqliteStatement } from "kysely";

// Node's built-in SQLite, shaped like the better-sqlite3 subset that Kysely's
// SqliteDialect drives, so the ledger needs no native addon to build or ship.

export interface SqliteDatabaseOptions {
  /** How long a write waits for another process's write lock before failing. */
  busyTimeoutMs?: number;
}

/** Opens (creating it when missing) the SQLite file at path, or ":memory:". */
export function sqliteDatabase(path: string, options: SqliteDatabaseOptions = {}): SqliteDatabase {
  const db = new DatabaseSync(path);
  try {
    // WAL: readers (the API) never wait for the writer (the rollout).
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
    db.exec("PRAGMA foreign_keys = ON");
  } catch (error) {
    db.close();
    throw error;
  }
  return {
    close: () => db.close(),
    prepare: (sql) => statement(db.prepare(beginImmediate(sql))),
  };
}

// Kysely opens transactions with a plain (deferred) BEGIN, which takes the
// write lock only at the first write: when another process wrote in between,
// SQLite fails the upgrade at once with SQLITE_BUSY instead of waiting
// busy_timeout. Every ledger transaction writes, so take the lock up front.
function beginImmediate(sql: string): string {
  return /^\s*begin\s*;?\s*$/i.test(sql) ? "begin immediate" : sql;
}

function statement(stmt: StatementSync): SqliteStatement {
  return {
    // Statements that return rows (SELECT, INSERT … RETURNING, PRAGMA) have columns.
    reader: stmt.columns().length > 0,
    all: (parameters) => stmt.all(...bind(parameters)),
    run: (parameters) => stmt.run(...bind(parameters)),
    iterate: (parameters) => stmt.iterate(...bind(parameters)),
  };
}

// node:sqlite takes parameters spread and cannot bind booleans or undefined.
function bind(parameters: readonly unknown[]): SQLInputValue[] {
  return parameters.map((value, index) => {
    if (value === undefined) return null;
    if (typeof value === "boolean") return value ? 1 : 0;
    if (value === null || typeof value === "number" || typeof value === "bigint" || typeof value === "string" || ArrayBuffer.isView(value)) {
      return value as SQLInputValue;
    }
    throw new TypeError(`SQLite cannot store parameter ${index + 1} (a ${typeof value}); this is a bug in the ledger's queries`);
  });
}
