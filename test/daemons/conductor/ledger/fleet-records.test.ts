import { randomUUID } from "node:crypto";
import { ledgerTest } from "../../../helpers/ledger-databases.ts";

// What the ledger keeps beside deploys, on SQLite, PostgreSQL and MariaDB.

const sha1 = "1".repeat(40);
const sha2 = "2".repeat(40);

ledgerTest("hosts: upsert keeps firstSeen, replaces the rest; names are case-sensitive", async (t, ledger) => {
  const alive = { event: "startup", facts: { role: "web", cores: 8, nested: { a: [1, 2] } }, classes: ["web", "base"], agentVersion: "0.1.0" };
  await ledger.upsertHost({ host: "web-1", lastSeen: "2030-01-01T00:00:00.000Z", apps: {}, ...alive });
  await ledger.upsertHost({
    host: "web-1",
    lastSeen: "2030-01-01T00:01:00.000Z",
    ...alive,
    event: "alive",
    apps: { shop: { release: "r1", sha: sha1, since: "2030-01-01T00:00:30.000Z", deploying: false } },
    agentVersion: "0.2.0",
  });
  await ledger.upsertHost({ host: "Web-1", lastSeen: "2030-01-01T00:02:00.000Z", apps: {}, ...alive });
  await ledger.upsertHost({ host: "db-1", lastSeen: "2030-01-01T00:03:00.000Z", apps: {}, ...alive, facts: {}, classes: [] });

  t.deepEqual(await ledger.getHost("web-1"), {
    host: "web-1",
    firstSeen: "2030-01-01T00:00:00.000Z",
    lastSeen: "2030-01-01T00:01:00.000Z",
    event: "alive",
    facts: { role: "web", cores: 8, nested: { a: [1, 2] } },
    classes: ["web", "base"],
    apps: { shop: { release: "r1", sha: sha1, since: "2030-01-01T00:00:30.000Z", deploying: false } },
    agentVersion: "0.2.0",
  });
  t.deepEqual(
    (await ledger.listHosts()).map((h) => [h.host, h.firstSeen]),
    [
      ["Web-1", "2030-01-01T00:02:00.000Z"],
      ["db-1", "2030-01-01T00:03:00.000Z"],
      ["web-1", "2030-01-01T00:00:00.000Z"],
    ],
    "ordered by name, bytewise",
  );
  t.is(await ledger.getHost("WEB-1"), undefined);
});

ledgerTest("builds: the latest record per job for a sha", async (t, ledger) => {
  const build = { repo: "git@example.com:shop.git", ref: "refs/heads/main", url: "https://ci.example.com/job/1" };
  await ledger.recordBuild({ job: "shop-test", number: 1, phase: "queued", sha: sha1, time: "2030-01-01T00:00:00.000Z", ...build });
  await ledger.recordBuild({ job: "shop-test", number: 1, phase: "succeeded", sha: sha1, time: "2030-01-01T00:05:00.000Z", ...build });
  await ledger.recordBuild({ job: "shop-test", number: 1, phase: "started", sha: sha1, time: "2030-01-01T00:01:00.000Z", ...build });
  await ledger.recordBuild({ job: "shop-lint", number: 7, phase: "started", sha: sha1, time: "2030-01-01T00:00:00.000Z", ...build });
  await ledger.recordBuild({ job: "shop-lint", number: 7, phase: "failed", sha: sha1, time: "2030-01-01T00:00:00.000Z", ...build });
  await ledger.recordBuild({ job: "shop-test", number: 2, phase: "failed", sha: sha2, time: "2030-01-01T00:09:00.000Z", ...build });
  await ledger.recordBuild({ job: "nightly", number: null, phase: "queued", sha: null, repo: null, ref: null, url: null, time: "2030-01-01T00:00:00.000Z" });

  t.deepEqual(await ledger.buildsForSha(sha1), [
    { job: "shop-lint", number: 7, phase: "failed", sha: sha1, time: "2030-01-01T00:00:00.000Z", ...build },
    { job: "shop-test", number: 1, phase: "succeeded", sha: sha1, time: "2030-01-01T00:05:00.000Z", ...build },
  ]);
  t.deepEqual(
    (await ledger.buildsForSha(sha2)).map((b) => b.phase),
    ["failed"],
  );
  t.deepEqual(await ledger.buildsForSha("f".repeat(40)), []);
});

ledgerTest("locks: set, replace, expire and clear", async (t, ledger) => {
  const later = new Date(Date.now() + 3_600_000).toISOString();
  const past = new Date(Date.now() - 1000).toISOString();
  const lock = { app: "shop", environment: "production", actor: "alice", reason: "release freeze", createdAt: "2030-01-01T00:00:00.000Z", expiresAt: null };
  t.is(await ledger.getLock("shop", "production"), undefined);
  await ledger.setLock(lock);
  t.deepEqual(await ledger.getLock("shop", "production"), lock);
  await ledger.setLock({ ...lock, actor: "bob", reason: "incident 42", expiresAt: later });
  t.deepEqual(await ledger.getLock("shop", "production"), { ...lock, actor: "bob", reason: "incident 42", expiresAt: later });
  await ledger.setLock({ ...lock, environment: "staging", expiresAt: past });
  await ledger.setLock({ ...lock, app: "blog" });
  t.deepEqual(
    (await ledger.listLocks()).map((l) => `${l.app}/${l.environment}`),
    ["blog/production", "shop/production"],
    "expired locks are not listed",
  );
  t.is(await ledger.getLock("shop", "staging"), undefined);

  await ledger.setLock({ ...lock, environment: "staging", expiresAt: past });
  t.is(await ledger.getLock("shop", "staging"), undefined, "an expired lock is gone");
  await ledger.setLock({ ...lock, environment: "staging", expiresAt: past });
  t.false(await ledger.clearLock("shop", "staging"), "an expired lock does not count as cleared");
  t.true(await ledger.clearLock("shop", "production"));
  t.false(await ledger.clearLock("shop", "production"));
  t.is(await ledger.getLock("shop", "production"), undefined);
  t.deepEqual(
    (await ledger.listLocks()).map((l) => l.app),
    ["blog"],
  );
});

ledgerTest("audit: newest first, filtered, detail kept", async (t, ledger) => {
  const deploy = await ledger.createDeploy({
    uid: randomUUID(),
    app: "shop",
    environment: "production",
    action: "deploy",
    ref: "v1",
    sha: sha1,
    previousSha: null,
    rollbackOf: null,
    actor: "alice",
    forced: false,
    requestedHosts: null,
  });
  const before = new Date().toISOString();
  await ledger.audit({ actor: "alice", action: "deploy", app: "shop", environment: "production", deployId: deploy.id, detail: { ref: "v1", hosts: ["web-1"] } });
  await ledger.audit({ actor: "bob", action: "lock", app: "shop", environment: "staging", deployId: null, detail: {}, time: "2030-01-01T00:00:00.000Z" });
  await ledger.audit({ actor: "admin", action: "token", app: null, environment: null, deployId: null, detail: { name: "ci" } });

  const all = await ledger.listAudit();
  t.deepEqual(
    all.map((e) => e.action),
    ["token", "lock", "deploy"],
  );
  const [, lock, first] = all;
  t.deepEqual(first, { id: first?.id ?? -1, time: first?.time ?? "", actor: "alice", action: "deploy", app: "shop", environment: "production", deployId: deploy.id, detail: { ref: "v1", hosts: ["web-1"] } });
  t.true((first?.time ?? "") >= before, "time defaults to now");
  t.is(lock?.time, "2030-01-01T00:00:00.000Z");
  t.deepEqual(
    (await ledger.listAudit({ app: "shop" })).map((e) => e.action),
    ["lock", "deploy"],
  );
  t.deepEqual(
    (await ledger.listAudit({ app: "shop", environment: "staging" })).map((e) => e.actor),
    ["bob"],
  );
  t.deepEqual(
    (await ledger.listAudit({ deployId: deploy.id })).map((e) => e.actor),
    ["alice"],
  );
  t.deepEqual(
    (await ledger.listAudit({ limit: 1 })).map((e) => e.action),
    ["token"],
  );
});
