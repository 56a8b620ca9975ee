import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import type { RunningBroker } from "../../daemons/broker/start-broker.ts";
import type { Envelope } from "../../shared/messages/index.ts";
import { startTestBroker } from "../helpers/embedded-broker.ts";
import { testBus, uniquePrefix, waitFor } from "../helpers/test-bus.ts";
import { cleanEnv, deploykit, spoolFiles, tempDir } from "../hooks/hook-fixture.ts";

// `deploykit publish` with a spool, `deploykit spool list` and `spool flush`:
// the real CLI in child processes, a real broker, and a port nobody listens on.

let broker: RunningBroker;
let deadUrl: string;
test.before(async () => {
  broker = await startTestBroker();
  const dead = await startTestBroker();
  deadUrl = dead.url;
  await dead.close();
});
test.after.always(async () => {
  await broker?.close();
});

function setup() {
  const dir = tempDir("dk-spool-");
  const spool = join(dir, "spool");
  const prefix = uniquePrefix();
  const env = cleanEnv(join(dir, "home"), { DEPLOYKIT_SPOOL_DIR: spool, DEPLOYKIT_BUS_PREFIX: prefix });
  return { dir, spool, prefix, env };
}

async function listen(prefix: string) {
  const bus = testBus(broker.url, prefix);
  const messages: Envelope<{ text: string }>[] = [];
  await bus.subscribe("events", (message) => void messages.push(message));
  return { bus, messages };
}

const publish = (text: string, url: string, env: Record<string, string>, dir: string, extra: string[] = []) =>
  deploykit(["publish", "events", JSON.stringify({ text }), "--bus", url, "--timeout", "800", ...extra], dir, env);

test.serial("publish spools when the bus is down (exit 75, the id printed), and the next publish delivers the spooled one first", async (t) => {
  const s = setup();
  const spooled = await publish("while down", deadUrl, s.env, s.dir, ["--correlation-id", "0b5c1a7e-1d4f-4c43-9d6e-2f8a33c0d0aa"]);
  t.is(spooled.exitCode, 75, String(spooled.stderr));
  const id = String(spooled.stdout).trim();
  t.regex(id, /^[0-9a-f-]{36}$/);
  const warning = String(spooled.stderr).trim().split("\n");
  t.is(warning.length, 1);
  t.regex(warning[0] ?? "", /^deploykit: warning: the bus is unavailable \(no connection to .*\): 1 message spooled as .*\.json; a later publish or deploykit spool flush delivers it$/);
  const [file] = spoolFiles(s.spool);
  t.true(file?.endsWith(`-${id}.json`));

  const listed = await deploykit(["spool", "list"], s.dir, s.env);
  t.is(listed.exitCode, 0);
  const [line] = String(listed.stdout).trim().split("\n");
  t.regex(line ?? "", new RegExp(`\\tevents\\t${id}\\t${join(s.spool, file as string)}$`));
  t.regex(String(listed.stderr), /1 waiting \(\d+ bytes\)/);
  const json = await deploykit(["spool", "list", "--json"], s.dir, s.env);
  const entry = JSON.parse(String(json.stdout)) as { topic: string; envelope: Envelope<{ text: string }>; reason: string };
  t.is(entry.envelope.body.text, "while down");
  t.regex(entry.reason, /no connection/);

  const { bus, messages } = await listen(s.prefix);
  t.teardown(() => bus.close());
  const published = await publish("bus is back", broker.url, s.env, s.dir);
  t.is(published.exitCode, 0, String(published.stderr));
  t.is(String(published.stderr), "");
  await waitFor(() => messages.length === 2, 10_000, "both messages");
  t.deepEqual(messages.map((m) => m.body.text), ["while down", "bus is back"], "the spooled message first");
  t.is(messages[0]?.id, id);
  t.is(messages[0]?.correlationId, "0b5c1a7e-1d4f-4c43-9d6e-2f8a33c0d0aa", "the chain it was published in");
  t.is(messages[1]?.id, String(published.stdout).trim());
  t.deepEqual(spoolFiles(s.spool), []);
});

test.serial("spool flush delivers oldest first, moves unreadable files to bad/ once, and says what it did", async (t) => {
  const s = setup();
  for (const text of ["one", "two", "three"]) t.is((await publish(text, deadUrl, s.env, s.dir)).exitCode, 75);
  writeFileSync(join(s.spool, "999999999999999-garbage.json"), "{ not json");
  const foreign = { topic: "events", envelope: { type: "events.v1", id: "not-a-uuid", body: { text: "x" } } };
  writeFileSync(join(s.spool, "999999999999999-wrong.json"), JSON.stringify(foreign));

  const down = await deploykit(["spool", "flush", "--bus", deadUrl, "--timeout", "500"], s.dir, s.env);
  t.is(down.exitCode, 75, "messages remain: try again later");
  t.regex(String(down.stderr), /could not reach the bus: .*5 messages stay in/);
  t.is(spoolFiles(s.spool).length, 5, "nothing lost");

  const { bus, messages } = await listen(s.prefix);
  t.teardown(() => bus.close());
  const flushed = await deploykit(["spool", "flush", "--bus", broker.url], s.dir, s.env);
  t.is(flushed.exitCode, 0, String(flushed.stderr));
  const lines = String(flushed.stderr).trim().split("\n");
  t.is(lines.filter((line) => /warning: moved .*\/bad\/999999999999999-(garbage|wrong)\.json aside/.test(line)).length, 2, String(flushed.stderr));
  t.regex(String(flushed.stderr), /not JSON/);
  t.regex(String(flushed.stderr), /invalid envelope: id/);
  t.regex(lines.at(-1) ?? "", /delivered 3, 0 waiting, 2 moved to/);
  await waitFor(() => messages.length === 3, 10_000, "three messages");
  t.deepEqual(messages.map((m) => m.body.text), ["one", "two", "three"]);
  t.deepEqual(spoolFiles(s.spool), []);
  const bad = readdirSync(join(s.spool, "bad")).sort();
  t.deepEqual(bad, ["999999999999999-garbage.json", "999999999999999-garbage.json.reason", "999999999999999-wrong.json", "999999999999999-wrong.json.reason"]);
  t.is(readFileSync(join(s.spool, "bad", "999999999999999-garbage.json"), "utf8"), "{ not json", "kept as it was");

  const again = await deploykit(["spool", "flush", "--bus", broker.url], s.dir, s.env);
  t.is(again.exitCode, 0);
  t.regex(String(again.stderr), /nothing to deliver/, "bad files are not retried");
  const listed = await deploykit(["spool", "list"], s.dir, s.env);
  t.regex(String(listed.stderr), /0 waiting .* 2 in .*\/bad/);
});

test.serial("the spool is bounded: past spool.maxFiles publish fails loudly (69) and keeps nothing", async (t) => {
  const s = setup();
  const env = { ...s.env, DEPLOYKIT_SPOOL_MAX_FILES: "2" };
  t.is((await publish("a", deadUrl, env, s.dir)).exitCode, 75);
  t.is((await publish("b", deadUrl, env, s.dir)).exitCode, 75);
  const full = await publish("c", deadUrl, env, s.dir);
  t.is(full.exitCode, 69);
  t.is(String(full.stdout), "", "no id: the message is not kept anywhere");
  t.regex(String(full.stderr), /^deploykit: could not publish: no connection to .*; could not spool: spool .* is full \(2 messages, \d+ bytes; limits spool\.maxFiles 2, spool\.maxBytes \d+\)/);
  t.is(spoolFiles(s.spool).length, 2);

  const bytes = await publish("d", deadUrl, { ...s.env, DEPLOYKIT_SPOOL_MAX_BYTES: "100" }, s.dir);
  t.is(bytes.exitCode, 69);
  t.regex(String(bytes.stderr), /spool\.maxBytes 100/);
});

test.serial("--no-spool and an empty spool.dir fail instead of spooling", async (t) => {
  const s = setup();
  const noSpool = await publish("x", deadUrl, s.env, s.dir, ["--no-spool"]);
  t.is(noSpool.exitCode, 69);
  t.regex(String(noSpool.stderr), /^deploykit: could not publish: no connection to/);
  const empty = await publish("x", deadUrl, { ...s.env, DEPLOYKIT_SPOOL_DIR: "" }, s.dir);
  t.is(empty.exitCode, 69);
  t.false(existsSync(s.spool), "no spool directory was even created");
  const flush = await deploykit(["spool", "flush", "--spool", ""], s.dir, s.env);
  t.is(flush.exitCode, 64);
  t.regex(String(flush.stderr), /there is no spool/);
});
