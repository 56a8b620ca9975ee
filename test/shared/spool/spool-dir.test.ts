import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { execa } from "execa";
import { makeEnvelope } from "../../../shared/bus/envelope-codec.ts";
import { SpoolDir, SpoolFullError } from "../../../shared/spool/spool-dir.ts";
import { tempDir } from "../../hooks/hook-fixture.ts";

const source = { component: "test", host: "h1" };
const limits = { maxFiles: 100, maxBytes: 1_000_000 };
const message = (text: string) => ({ topic: "events" as const, envelope: makeEnvelope("events", { text }, source) });

test("writes one 0600 file per message in a 0700 directory, listed oldest first, read back as written", (t) => {
  const spool = new SpoolDir(join(tempDir("dk-spool-"), "nested", "spool"), limits);
  t.deepEqual(spool.list(), [], "a spool that does not exist yet is empty");
  const written = ["a", "b", "c"].map((text) => message(text));
  const paths = written.map((m) => spool.write({ ...m, reason: "bus down" }));
  t.is(statSync(spool.dir).mode & 0o777, 0o700);
  for (const path of paths) t.is(statSync(path).mode & 0o777, 0o600);
  const entries = spool.list();
  t.deepEqual(entries.map((e) => e.path), paths, "oldest first, by name");
  const read = spool.read(entries[1] as (typeof entries)[number]);
  t.true(read.ok);
  if (read.ok) {
    t.deepEqual(read.message.envelope, written[1]?.envelope);
    t.is(read.message.topic, "events");
    t.is(read.message.reason, "bus down");
    t.false(Number.isNaN(Date.parse(read.message.spooledAt ?? "")));
  }
  t.deepEqual(readdirSync(spool.dir).filter((name) => name.startsWith(".")), [], "no temporary file left behind");
});

test("ignores dot files (a write cut short leaves only a temporary file) and folders", (t) => {
  const spool = new SpoolDir(tempDir("dk-spool-"), limits);
  writeFileSync(join(spool.dir, ".tmp-half-written.json"), "{");
  spool.write(message("whole"));
  spool.moveAside(spool.list()[0] as ReturnType<SpoolDir["list"]>[number], "test");
  t.deepEqual(spool.list(), [], "bad/ is not a message, nor is the temporary file");
  t.is(spool.listBad().length, 1);
});

test("refuses to grow past maxFiles or maxBytes, and says how to fix it", (t) => {
  const files = new SpoolDir(tempDir("dk-spool-"), { maxFiles: 2, maxBytes: 1_000_000 });
  files.write(message("1"));
  files.write(message("2"));
  const error = t.throws(() => files.write(message("3")), { instanceOf: SpoolFullError });
  t.regex(error?.message ?? "", /is full \(2 messages, \d+ bytes; limits spool\.maxFiles 2.*run deploykit spool flush once the bus is back/);
  t.is(files.list().length, 2);
  const bytes = new SpoolDir(tempDir("dk-spool-"), { maxFiles: 100, maxBytes: 600 });
  bytes.write(message("x".repeat(100)));
  t.throws(() => bytes.write(message("y".repeat(300))), { instanceOf: SpoolFullError });
});

test("read says why a file is unusable; moveAside keeps it, with the reason beside it", (t) => {
  const spool = new SpoolDir(tempDir("dk-spool-"), limits);
  const cases: [string, string, RegExp][] = [
    ["1-not-json.json", "{", /not JSON/],
    ["2-no-topic.json", JSON.stringify({ envelope: {} }), /no topic/],
    ["3-bad-body.json", JSON.stringify({ topic: "builds", envelope: { ...message("x").envelope, type: "builds.v1", body: { job: "j", phase: "melted" } } }), /invalid builds\.v1 body: phase/],
    ["4-wrong-topic.json", JSON.stringify({ topic: "keepalive", envelope: message("x").envelope }), /does not belong on topic "keepalive"/],
  ];
  for (const [name, text] of cases) writeFileSync(join(spool.dir, name), text);
  for (const [index, entry] of spool.list().entries()) {
    const [, text, reason] = cases[index] as [string, string, RegExp];
    const read = spool.read(entry);
    t.false(read.ok);
    if (read.ok) continue;
    t.regex(read.reason, reason);
    const moved = spool.moveAside(entry, read.reason);
    t.is(readFileSync(moved, "utf8"), text);
    t.is(readFileSync(`${moved}.reason`, "utf8"), `${read.reason}\n`);
  }
  t.deepEqual(spool.list(), []);
});

test("the flush lock: one holder at a time, released on release, taken over from a dead process", async (t) => {
  const spool = new SpoolDir(tempDir("dk-spool-"), limits);
  const release = spool.lock();
  t.truthy(release);
  t.is(spool.lock(), undefined, "held");
  release?.();
  const again = spool.lock();
  t.truthy(again, "free again");
  again?.();
  const dead = await execa("sh", ["-c", "echo $$"]);
  writeFileSync(join(spool.dir, ".flush.lock"), `${dead.stdout.trim()}\n`);
  const takeover = spool.lock();
  t.truthy(takeover, "a lock whose process is gone is taken over");
  t.is(readFileSync(join(spool.dir, ".flush.lock"), "utf8").trim(), String(process.pid));
  takeover?.();
  t.false(existsSync(join(spool.dir, ".flush.lock")));
  t.deepEqual(readdirSync(spool.dir), [], "no stray lock files");
});
