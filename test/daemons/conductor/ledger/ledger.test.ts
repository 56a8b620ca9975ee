import { randomUUID } from "node:crypto";
import type { Ledger, NewDeploy } from "../../../../daemons/conductor/ledger/ledger.ts";
import { ledgerTest } from "../../../helpers/ledger-databases.ts";
import { createDeploysInWorker } from "../../../helpers/ledger-worker.ts";

// One contract, three databases: every test runs on SQLite, PostgreSQL and
// MariaDB, each on a database of its own. Deploys, their hosts, steps and
// logs here; hosts, builds, locks and audit in fleet-records.test.ts.

const sha1 = "1".repeat(40);
const sha2 = "2".repeat(40);

function newDeploy(overrides: Partial<NewDeploy> = {}): NewDeploy {
  return {
    uid: randomUUID(),
    app: "shop",
    environment: "production",
    action: "deploy",
    ref: "v1.0.0",
    sha: sha1,
    previousSha: null,
    rollbackOf: null,
    actor: "alice",
    forced: false,
    requestedHosts: null,
    ...overrides,
  };
}

ledgerTest("createDeploy numbers deploys per app and environment and keeps every field", async (t, ledger) => {
  const first = await ledger.createDeploy(newDeploy({ forced: true, requestedHosts: ["web-1", "web-2"] }));
  const second = await ledger.createDeploy(newDeploy({ previousSha: sha1, sha: sha2, ref: "refs/heads/main", rollbackOf: first.id, action: "rollback" }));
  const staging = await ledger.createDeploy(newDeploy({ environment: "staging" }));
  const other = await ledger.createDeploy(newDeploy({ app: "blog" }));
  t.deepEqual([first.number, second.number, staging.number, other.number], [1, 2, 1, 1]);
  t.is(new Set([first.id, second.id, staging.id, other.id]).size, 4);
  t.true(second.id > first.id);

  t.like(first, { app: "shop", environment: "production", action: "deploy", state: "queued", forced: true, requestedHosts: ["web-1", "web-2"] });
  t.is(first.forced, true, "a real boolean, not 1");
  t.deepEqual(second, {
    id: second.id,
    uid: second.uid,
    app: "shop",
    environment: "production",
    number: 2,
    action: "rollback",
    ref: "refs/heads/main",
    sha: sha2,
    previousSha: sha1,
    rollbackOf: first.id,
    actor: "alice",
    forced: false,
    requestedHosts: null,
    state: "queued",
    message: null,
    createdAt: second.createdAt,
    startedAt: null,
    finishedAt: null,
  });
  t.is(new Date(second.createdAt).toISOString(), second.createdAt);
  t.deepEqual(await ledger.getDeploy(second.id), second);

  const error = await t.throwsAsync(ledger.createDeploy(newDeploy({ uid: first.uid })));
  t.regex(error.message, new RegExp(`${first.uid}.*#${first.id}`));
});

ledgerTest("concurrent createDeploy calls get distinct numbers", async (t, ledger) => {
  const created = await Promise.all(Array.from({ length: 12 }, () => ledger.createDeploy(newDeploy())));
  t.deepEqual(created.map((deploy) => deploy.number).sort((a, b) => a - b), Array.from({ length: 12 }, (_, i) => i + 1));
});

ledgerTest("two conductors on one database get distinct numbers", async (t, ledger, url) => {
  const worker = createDeploysInWorker({ url, app: "shop", environment: "production", count: 8 });
  await worker.ready;
  worker.go();
  const mine = await Promise.all(Array.from({ length: 8 }, () => ledger.createDeploy(newDeploy())));
  const theirs = await worker.numbers;
  const all = [...mine.map((deploy) => deploy.number), ...theirs].sort((a, b) => a - b);
  t.deepEqual(all, Array.from({ length: 16 }, (_, i) => i + 1));
});

ledgerTest("getDeploy, getDeployByUid and listDeploys with filters and paging", async (t, ledger) => {
  const a1 = await ledger.createDeploy(newDeploy());
  const b1 = await ledger.createDeploy(newDeploy({ environment: "staging" }));
  const a2 = await ledger.createDeploy(newDeploy());
  const c1 = await ledger.createDeploy(newDeploy({ app: "blog" }));
  const a3 = await ledger.createDeploy(newDeploy());
  await ledger.updateDeploy(a2.id, { state: "failed" });
  await ledger.updateDeploy(b1.id, { state: "running" });

  t.is((await ledger.getDeployByUid(c1.uid))?.id, c1.id);
  t.is(await ledger.getDeploy(a3.id + 1000), undefined);
  t.is(await ledger.getDeployByUid(randomUUID()), undefined);

  const ids = async (filter: Parameters<Ledger["listDeploys"]>[0]) => (await ledger.listDeploys(filter)).map((deploy) => deploy.id);
  t.deepEqual(await ids(undefined), [a3.id, c1.id, a2.id, b1.id, a1.id], "newest first");
  t.deepEqual(await ids({ app: "shop" }), [a3.id, a2.id, b1.id, a1.id]);
  t.deepEqual(await ids({ app: "shop", environment: "production" }), [a3.id, a2.id, a1.id]);
  t.deepEqual(await ids({ environment: "staging" }), [b1.id]);
  t.deepEqual(await ids({ states: ["failed", "running"] }), [a2.id, b1.id]);
  t.deepEqual(await ids({ states: [] }), []);
  t.deepEqual(await ids({ app: "shop", limit: 2 }), [a3.id, a2.id]);
  t.deepEqual(await ids({ app: "shop", limit: 2, beforeId: a2.id }), [b1.id, a1.id], "the next page");
  t.deepEqual(await ids({ limit: 0 }), [a3.id], "a limit is at least 1");
  t.is((await ledger.listDeploys({ limit: 10_000 })).length, 5);
});

ledgerTest("updateDeploy sets only what the patch names", async (t, ledger) => {
  const deploy = await ledger.createDeploy(newDeploy());
  await ledger.updateDeploy(deploy.id, { state: "running", startedAt: "2030-01-01T00:00:00.000Z" });
  await ledger.updateDeploy(deploy.id, {});
  await ledger.updateDeploy(deploy.id, { state: "failed", message: "web-1 failed at restart", finishedAt: "2030-01-01T00:05:00.000Z" });
  t.deepEqual(await ledger.getDeploy(deploy.id), {
    ...deploy,
    state: "failed",
    message: "web-1 failed at restart",
    startedAt: "2030-01-01T00:00:00.000Z",
    finishedAt: "2030-01-01T00:05:00.000Z",
  });
  await ledger.updateDeploy(deploy.id, { message: null });
  t.is((await ledger.getDeploy(deploy.id))?.message, null);
});

ledgerTest("lastSucceeded finds the newest succeeded deploy, optionally before an id", async (t, ledger) => {
  t.is(await ledger.lastSucceeded("shop", "production"), undefined);
  const one = await ledger.createDeploy(newDeploy());
  const two = await ledger.createDeploy(newDeploy({ sha: sha2 }));
  const three = await ledger.createDeploy(newDeploy());
  const staging = await ledger.createDeploy(newDeploy({ environment: "staging" }));
  for (const deploy of [one, two, staging]) await ledger.updateDeploy(deploy.id, { state: "succeeded" });
  await ledger.updateDeploy(three.id, { state: "failed" });

  t.is((await ledger.lastSucceeded("shop", "production"))?.id, two.id);
  t.is((await ledger.lastSucceeded("shop", "production", two.id))?.id, one.id);
  t.is(await ledger.lastSucceeded("shop", "production", one.id), undefined);
  t.is((await ledger.lastSucceeded("shop", "staging"))?.id, staging.id);
  t.is(await ledger.lastSucceeded("blog", "production"), undefined);
});

ledgerTest("deploy hosts: planned, updated, and unexpected ones inserted", async (t, ledger) => {
  const deploy = await ledger.createDeploy(newDeploy());
  await ledger.addDeployHosts(deploy.id, [
    { host: "web-2", batch: 1 },
    { host: "web-1", batch: 1 },
    { host: "web-3", batch: 0 },
  ]);
  await ledger.addDeployHosts(deploy.id, []);
  const planned = await ledger.deployHosts(deploy.id);
  t.deepEqual(
    planned.map((h) => [h.batch, h.host, h.outcome, h.unexpected]),
    [
      [0, "web-3", "pending", false],
      [1, "web-1", "pending", false],
      [1, "web-2", "pending", false],
    ],
  );

  await ledger.updateDeployHost(deploy.id, "web-3", { requestedAt: "2030-01-01T00:00:00.000Z" });
  await ledger.updateDeployHost(deploy.id, "web-3", {
    outcome: "failed",
    release: "20300101-000000",
    previousRelease: "20291231-000000",
    failedStep: "restart",
    reason: "exit 3",
    finishedAt: "2030-01-01T00:00:09.000Z",
    durationMs: 9000,
  });
  await ledger.updateDeployHost(deploy.id, "db-1", { outcome: "succeeded" });
  await ledger.updateDeployHost(deploy.id, "db-2", {});
  await ledger.updateDeployHost(deploy.id, "db-3", { unexpected: false, batch: 2 });

  const hosts = await ledger.deployHosts(deploy.id);
  t.deepEqual(
    hosts.map((h) => [h.batch, h.host, h.outcome, h.unexpected]),
    [
      [-1, "db-1", "succeeded", true],
      [-1, "db-2", "pending", true],
      [0, "web-3", "failed", false],
      [1, "web-1", "pending", false],
      [1, "web-2", "pending", false],
      [2, "db-3", "pending", false],
    ],
  );
  t.deepEqual(hosts[2], {
    deployId: deploy.id,
    host: "web-3",
    batch: 0,
    outcome: "failed",
    unexpected: false,
    release: "20300101-000000",
    previousRelease: "20291231-000000",
    failedStep: "restart",
    reason: "exit 3",
    requestedAt: "2030-01-01T00:00:00.000Z",
    finishedAt: "2030-01-01T00:00:09.000Z",
    durationMs: 9000,
  });
  t.is(hosts[0]?.unexpected, true, "a real boolean, not 1");
  await t.throwsAsync(ledger.addDeployHosts(deploy.id, [{ host: "web-1", batch: 1 }]), undefined, "a host is planned once");
  t.deepEqual(await ledger.deployHosts(deploy.id + 1000), []);
});

ledgerTest("steps: started then finished, finished without a start, never reopened", async (t, ledger) => {
  const deploy = await ledger.createDeploy(newDeploy());
  await ledger.recordStep(deploy.id, "web-2", "fetch", "started", "2030-01-01T00:00:02.000Z");
  await ledger.recordStep(deploy.id, "web-1", "fetch", "started", "2030-01-01T00:00:01.000Z");
  await ledger.recordStep(deploy.id, "web-1", "fetch", "running", "2030-01-01T00:00:01.500Z");
  await ledger.recordStep(deploy.id, "web-1", "fetch", "succeeded", "2030-01-01T00:00:04.250Z");
  await ledger.recordStep(deploy.id, "web-1", "fetch", "running", "2030-01-01T00:00:05.000Z");
  await ledger.recordStep(deploy.id, "web-1", "preflight", "succeeded", "2030-01-01T00:00:00.500Z");
  await ledger.recordStep(deploy.id, "web-2", "fetch", "running", "2030-01-01T00:00:03.000Z");

  t.deepEqual(await ledger.steps(deploy.id), [
    { deployId: deploy.id, host: "web-1", step: "preflight", state: "succeeded", startedAt: "2030-01-01T00:00:00.500Z", finishedAt: "2030-01-01T00:00:00.500Z", durationMs: null },
    { deployId: deploy.id, host: "web-1", step: "fetch", state: "succeeded", startedAt: "2030-01-01T00:00:01.000Z", finishedAt: "2030-01-01T00:00:04.250Z", durationMs: 3250 },
    { deployId: deploy.id, host: "web-2", step: "fetch", state: "running", startedAt: "2030-01-01T00:00:02.000Z", finishedAt: null, durationMs: null },
  ]);
});

ledgerTest("logs: offsets count on across appends, per host; readLog by host, offset and limit", async (t, ledger) => {
  const deploy = await ledger.createDeploy(newDeploy());
  const line = (text: string, stream: "stdout" | "stderr" | "agent" = "stdout") => ({ step: "fetch" as const, stream, text, time: "2030-01-01T00:00:00.000Z" });
  t.deepEqual(await ledger.appendLog(deploy.id, "web-1", []), []);
  const first = await ledger.appendLog(deploy.id, "web-1", [line("one"), line("two", "stderr")]);
  t.deepEqual(first, [
    { host: "web-1", offset: 0, ...line("one") },
    { host: "web-1", offset: 1, ...line("two", "stderr") },
  ]);
  await ledger.appendLog(deploy.id, "web-0", [line("other host")]);
  const wide = `ünïcödé ✓ 🚀 ${"x".repeat(100_000)}`;
  const second = await ledger.appendLog(deploy.id, "web-1", [line("three", "agent"), line(wide)]);
  t.deepEqual(
    second.map((l) => l.offset),
    [2, 3],
  );
  const many = await ledger.appendLog(deploy.id, "web-2", Array.from({ length: 1200 }, (_, i) => line(`line ${i}`)));
  t.is(many.at(-1)?.offset, 1199);

  const all = await ledger.readLog(deploy.id);
  t.is(all.length, 1000, "the default limit");
  t.deepEqual(
    all.slice(0, 6).map((l) => [l.host, l.offset, l.text.slice(0, 12)]),
    [
      ["web-0", 0, "other host"],
      ["web-1", 0, "one"],
      ["web-1", 1, "two"],
      ["web-1", 2, "three"],
      ["web-1", 3, wide.slice(0, 12)],
      ["web-2", 0, "line 0"],
    ],
  );
  t.is(all[4]?.text, wide);
  t.deepEqual(
    (await ledger.readLog(deploy.id, { host: "web-1", offset: 1, limit: 2 })).map((l) => [l.offset, l.stream, l.text]),
    [
      [1, "stderr", "two"],
      [2, "agent", "three"],
    ],
  );
  t.is((await ledger.readLog(deploy.id, { host: "web-2", offset: 1100 })).length, 100);
  t.is((await ledger.readLog(deploy.id, { limit: 50_000 })).length, 1205);
  t.deepEqual(await ledger.readLog(deploy.id, { host: "web-9" }), []);
});

ledgerTest("appendLog stores a burst larger than MySQL's default max_allowed_packet (16 MiB)", async (t, ledger) => {
  const deploy = await ledger.createDeploy(newDeploy());
  const long = "y".repeat(100_000);
  const lines = Array.from({ length: 180 }, (_, i) => ({ step: "restart" as const, stream: "stdout" as const, text: `${i} ${long}`, time: "2030-01-01T00:00:00.000Z" }));
  const stored = await ledger.appendLog(deploy.id, "web-1", lines);
  t.is(stored.at(-1)?.offset, 179);
  const read = await ledger.readLog(deploy.id, { host: "web-1", offset: 170 });
  t.deepEqual(
    read.map((line) => line.text.slice(0, 4)),
    ["170 ", "171 ", "172 ", "173 ", "174 ", "175 ", "176 ", "177 ", "178 ", "179 "],
  );
  t.is(read[0]?.text.length, 100_004);
});
