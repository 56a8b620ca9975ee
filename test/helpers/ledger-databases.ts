import { randomBytes } from "node:crypto";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import mysql from "mysql2/promise";
import pg from "pg";
import type { Dialect, Ledger } from "../../daemons/conductor/ledger/ledger.ts";
import { openLedger } from "../../daemons/conductor/ledger/open-ledger.ts";
import { tempDir } from "./temp-dir.ts";

// The databases the ledger suite runs against. `.ci/databases` installs and
// starts PostgreSQL and MariaDB; a server that is not reachable fails the
// tests (it does not skip them), with the command that fixes it. Every test
// gets a database of its own, dropped when the test ends.

export interface LedgerDatabase {
  dialect: Dialect;
  /** A fresh, empty database for this test: its ledger URL. Dropped at teardown (after the test's own teardowns). */
  create(t: ExecutionContext): Promise<string>;
  /** The admin URL the fresh databases are made from (no password in this file's defaults). */
  adminUrl?: string;
}

const postgresAdminUrl = process.env.DEPLOYKIT_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const mysqlAdminUrl = process.env.DEPLOYKIT_TEST_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test";

function freshName(): string {
  return `dk_${randomBytes(6).toString("hex")}`;
}

function withDatabase(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.href;
}

function unreachable(server: string, adminUrl: string, variable: string, error: unknown): Error {
  const { hostname, port } = new URL(adminUrl);
  return new Error(
    `${server} at ${hostname}:${port} did not let the ledger tests in (${(error as Error).message}). ` +
      `Start it with \`.ci/databases\` (as root: installs and starts PostgreSQL and MariaDB), or point ${variable} at an admin URL of a server you have.`,
    { cause: error },
  );
}

async function postgresAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresAdminUrl, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw unreachable("PostgreSQL", postgresAdminUrl, "DEPLOYKIT_TEST_POSTGRES_URL", error);
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function mysqlAdmin<T>(work: (connection: mysql.Connection) => Promise<T>): Promise<T> {
  let connection: mysql.Connection;
  try {
    connection = await mysql.createConnection({ uri: mysqlAdminUrl, connectTimeout: 5000 });
  } catch (error) {
    throw unreachable("MariaDB/MySQL", mysqlAdminUrl, "DEPLOYKIT_TEST_MYSQL_URL", error);
  }
  try {
    return await work(connection);
  } finally {
    await connection.end();
  }
}

export const ledgerDatabases: readonly LedgerDatabase[] = [
  {
    dialect: "sqlite",
    async create(t) {
      return `sqlite:${join(tempDir(t, "dk-ledger-"), "ledger.sqlite")}`;
    },
  },
  {
    dialect: "postgres",
    adminUrl: postgresAdminUrl,
    async create(t) {
      const name = freshName();
      // A human collation (en-US: "db-1" < "web-1" < "Web-1"), as production
      // databases often have, so the suite shows that the ledger sorts bytewise anyway.
      await postgresAdmin((client) =>
        client.query(`CREATE DATABASE "${name}" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`),
      );
      // FORCE: a test that failed before closing its ledger must not keep the database alive.
      t.teardown(() => postgresAdmin((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)));
      return withDatabase(postgresAdminUrl, name);
    },
  },
  {
    dialect: "mysql",
    adminUrl: mysqlAdminUrl,
    async create(t) {
      const name = freshName();
      await mysqlAdmin((connection) => connection.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`));
      t.teardown(() => mysqlAdmin((connection) => connection.query(`DROP DATABASE IF EXISTS \`${name}\``)));
      return withDatabase(mysqlAdminUrl, name);
    },
  },
];

/** Registers one test per database ("sqlite: title", …), each with a ledger of its own, closed at teardown. */
export function ledgerTest(title: string, body: (t: ExecutionContext, ledger: Ledger, url: string) => Promise<void>): void {
  for (const database of ledgerDatabases) {
    test(`${database.dialect}: ${title}`, async (t) => {
      const url = await database.create(t);
      const ledger = await openLedger(url);
      t.teardown(() => ledger.close());
      t.is(ledger.dialect, database.dialect);
      await body(t, ledger, url);
    });
  }
}
