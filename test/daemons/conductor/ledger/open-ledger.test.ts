import { randomUUID } from "node:crypto";
import { existsSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import test from "ava";
import { openLedger } from "../../../../daemons/conductor/ledger/open-ledger.ts";
import { captureLog } from "../../../helpers/capture-log.ts";
import { ledgerDatabases } from "../../../helpers/ledger-databases.ts";
import { tempDir } from "../../../helpers/temp-dir.ts";

const deploy = {
  app: "shop",
  environment: "production",
  action: "deploy",
  ref: "main",
  sha: "a".repeat(40),
  previousSha: null,
  rollbackOf: null,
  actor: "alice",
  forced: false,
  requestedHosts: null,
} as const;

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

for (const database of ledgerDatabases) {
  test(`${database.dialect}: reopening runs no migration again and keeps the data`, async (t) => {
    const url = await database.create(t);
    const first = captureLog();
    const ledger = await openLedger(url, { log: first.log });
    const created = await ledger.createDeploy({ ...deploy, uid: randomUUID() });
    await ledger.close();
    t.deepEqual(
      first.lines.filter((line) => line.msg === "ledger migrated").map((line) => line.migration),
      ["0001-initial"],
    );

    const second = captureLog();
    const again = await openLedger(url, { log: second.log });
    t.teardown(() => again.close());
    t.deepEqual(
      second.lines.filter((line) => line.msg === "ledger migrated"),
      [],
    );
    t.deepEqual(await again.getDeploy(created.id), created);
    t.is((await again.createDeploy({ ...deploy, uid: randomUUID() })).number, 2);
  });
}

test("an unknown scheme names the accepted forms and not the password", async (t) => {
  for (const url of ["redis://deploykit:s3cret@db.example.com/0", "ledger.txt", ""]) {
    const error = await t.throwsAsync(openLedger(url));
    t.regex(error.message, /sqlite:\/path\/ledger\.sqlite.*postgres:\/\/.*mysql:\/\//);
    t.regex(error.message, /DEPLOYKIT_CONDUCTOR_DATABASE/);
    t.notRegex(error.message, /s3cret/);
  }
  const unparseable = await t.throwsAsync(openLedger("postgres://deploykit:s3/cret@db.example.com/ledger"));
  t.regex(unparseable.message, /percent-encode/);
  t.notRegex(unparseable.message, /cret/);
});

test("sqlite: a plain path and sqlite:///path work; missing directories are created private", async (t) => {
  const dir = tempDir(t, "dk-open-ledger-");
  const plain = join(dir, "data", "conductor", "ledger.sqlite");
  const ledger = await openLedger(plain);
  await ledger.close();
  t.true(existsSync(plain));
  t.is(statSync(join(dir, "data", "conductor")).mode & 0o777, 0o700);
  t.is(statSync(join(dir, "data")).mode & 0o777, 0o700);

  const urlish = await openLedger(`sqlite://${join(dir, "other.db")}`);
  t.is(urlish.dialect, "sqlite");
  await urlish.close();
  t.true(existsSync(join(dir, "other.db")));

  const memory = await openLedger("sqlite::memory:");
  t.is((await memory.createDeploy({ ...deploy, uid: randomUUID() })).number, 1);
  await memory.close();
});

test("sqlite: a path that cannot be a file, or a file that is no database, says which and how to fix it", async (t) => {
  const dir = tempDir(t, "dk-open-ledger-");
  writeFileSync(join(dir, "not-a-dir"), "");
  const path = join(dir, "not-a-dir", "ledger.sqlite");
  const error = await t.throwsAsync(openLedger(`sqlite:${path}`));
  t.true(error.message.includes(path), error.message);
  t.regex(error.message, /may write to/);

  const garbage = join(dir, "garbage.sqlite");
  writeFileSync(garbage, "this is not a database, but it is long enough to look like a header ".repeat(20));
  const notSqlite = await t.throwsAsync(openLedger(garbage));
  t.true(notSqlite.message.includes(garbage), notSqlite.message);
  t.regex(notSqlite.message, /not a database.*is an SQLite database/);
});

test("sqlite: a ledger migrated by a newer deploykit says to upgrade", async (t) => {
  const path = join(tempDir(t, "dk-open-ledger-"), "ledger.sqlite");
  await (await openLedger(path)).close();
  const raw = new DatabaseSync(path);
  raw.prepare("insert into ledger_migration (name, timestamp) values (?, ?)").run("9999-from-the-future", new Date().toISOString());
  raw.close();
  const error = await t.throwsAsync(openLedger(path));
  t.regex(error.message, /newer deploykit.*9999-from-the-future.*upgrade this conductor/);
});

test("postgres and mysql: an unreachable server is named, without the password, with a fix", async (t) => {
  const port = await closedPort();
  for (const [url, server] of [
    [`postgres://deploykit:s3cret@127.0.0.1:${port}/ledger`, "PostgreSQL"],
    [`mariadb://deploykit:s3cret@127.0.0.1:${port}/ledger`, "MySQL/MariaDB"],
  ] as const) {
    const error = await t.throwsAsync(openLedger(url));
    t.true(error.message.includes(`deploykit@127.0.0.1:${port}/ledger`), error.message);
    t.true(error.message.includes(`is ${server} running`), error.message);
    t.regex(error.message, /ECONNREFUSED/);
    t.notRegex(error.message, /s3cret/);
  }
});

test("postgres and mysql: a missing database says to create it", async (t) => {
  const missing = `dk_missing_${randomUUID().slice(0, 8)}`;
  for (const database of ledgerDatabases) {
    if (!database.adminUrl) continue;
    const url = new URL(database.adminUrl);
    url.pathname = `/${missing}`;
    const error = await t.throwsAsync(openLedger(url.href));
    t.true(error.message.includes(`/${missing}`), error.message);
    t.regex(error.message, new RegExp(`create it \\(CREATE DATABASE .${missing}.`));
  }
});

test("mysql: a wrong password says to check the credentials and does not repeat them", async (t) => {
  const admin = ledgerDatabases.find((database) => database.dialect === "mysql")?.adminUrl;
  if (!admin) return t.fail("no MySQL admin URL");
  const url = new URL(admin);
  url.password = "wr0ng-pa55";
  const error = await t.throwsAsync(openLedger(url.href));
  t.regex(error.message, /Access denied/);
  t.regex(error.message, /check the user and password/);
  t.notRegex(error.message, /wr0ng-pa55/);
});
