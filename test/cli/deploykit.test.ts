import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { execa } from "execa";
import { brokers, reachable } from "../helpers/brokers.ts";
import { uniquePrefix } from "../helpers/test-bus.ts";

// The CLI as an operator runs it: the real bin/deploykit, in child processes,
// against real brokers.

const root = new URL("../../../", import.meta.url).pathname;
const bin = join(root, "bin", "deploykit");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
const cleanEnv = { DEPLOYKIT_CONFIG: "", PATH: process.env.PATH ?? "" };

function deploykit(args: string[], env: Record<string, string> = {}) {
  return execa(bin, args, { env: { ...cleanEnv, ...env }, extendEnv: false, reject: false, timeout: 30_000 });
}

test("--help lists the commands and --version prints the package version", async (t) => {
  const help = await deploykit(["--help"]);
  t.is(help.exitCode, 0);
  for (const command of ["up", "daemon <name>", "broker", "publish <topic> <body>", "tail <topics..>", "config <action>", "spool <action>", "hook <kind>"]) t.true(help.stdout.includes(command), command);
  const version = await deploykit(["--version"]);
  t.is(version.stdout.trim(), pkg.version);
  const publishHelp = await deploykit(["publish", "--help"]);
  t.regex(publishHelp.stdout, /git\.commits/);
});

test("runs under the pinned Node 24, whatever node is first on PATH", async (t) => {
  const result = await execa(join(root, "node_modules", "node", "bin", "node"), ["--version"]);
  t.regex(result.stdout, /^v24\./);
  const withOldNodeFirst = await deploykit(["--version"], { PATH: `/usr/bin:${process.env.PATH}` });
  t.is(withOldNodeFirst.exitCode, 0);
});

test("config check prints the effective configuration with secrets masked", async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), "dk-cli-")), "deploykit.yaml");
  writeFileSync(path, "bus:\n  url: stomp://deploy:topsecret@broker-1:61613\nkeepalive:\n  interval: 45s\n");
  const result = await deploykit(["config", "check", "--config", path]);
  t.is(result.exitCode, 0, result.stderr);
  t.regex(result.stderr, /configuration is valid/);
  t.false(result.stdout.includes("topsecret"));
  t.regex(result.stdout, /url: stomp:\/\/deploy:\*+@broker-1:61613/);
  t.regex(result.stdout, /interval: 45s/);
  t.regex(result.stdout, /groupExpiry: 7d/);
});

test("config check fails with the key, the variable and the file", async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), "dk-cli-")), "deploykit.yaml");
  writeFileSync(path, "keepalive:\n  interval: sometimes\n");
  const result = await deploykit(["config", "check", "--config", path]);
  t.is(result.exitCode, 78);
  t.regex(result.stderr, /keepalive\.interval: must be a duration.*set DEPLOYKIT_KEEPALIVE_INTERVAL or keepalive\.interval in/);
});

test("publish and tail with a broken configuration say what is wrong, without a stack trace", async (t) => {
  for (const args of [["publish", "events", '{"text":"x"}'], ["tail", "events"]]) {
    const result = await deploykit(args, { DEPLOYKIT_BUS_PUBLISH_TIMEOUT: "whenever" });
    t.is(result.exitCode, 78);
    t.regex(result.stderr, /^deploykit: invalid configuration:\n {2}bus\.publishTimeout: must be a duration.*set DEPLOYKIT_BUS_PUBLISH_TIMEOUT/);
    t.false(result.stderr.includes("    at "), "no stack trace");
  }
});

test("publish refuses an unknown topic, bad JSON and an invalid body before touching the bus", async (t) => {
  const bus = ["--bus", "stomp://127.0.0.1:1"];
  const unknown = await deploykit(["publish", "no.such", "{}", ...bus]);
  t.is(unknown.exitCode, 64);
  t.regex(unknown.stderr, /unknown topic "no\.such": use one of/);
  const notJson = await deploykit(["publish", "events", "{text", ...bus]);
  t.is(notJson.exitCode, 65);
  t.regex(notJson.stderr, /not JSON/);
  const invalid = await deploykit(["publish", "builds", '{"job":"shop","phase":"melted"}', ...bus]);
  t.is(invalid.exitCode, 65);
  t.regex(invalid.stderr, /invalid builds\.v1 body: phase/);
});

test("publish fails loudly when no broker answers and there is no spool", async (t) => {
  // With a spool (the default, spool.dir) it would keep the message instead: test/cli/spool.test.ts.
  const result = await deploykit(["publish", "events", '{"text":"x"}', "--bus", "stomp://127.0.0.1:1", "--timeout", "500", "--no-spool"]);
  t.is(result.exitCode, 69);
  t.regex(result.stderr, /could not publish/);
});

for (const broker of brokers.filter((b) => b.endpoint)) {
  test(`${broker.name}: tail shows what publish sent, and a daemon's keepalives`, async (t) => {
    const { host, port } = broker.endpoint as { host: string; port: number };
    if (!(await reachable(host, port))) throw new Error(`${broker.name} is not reachable at ${host}:${port}: run .ci/brokers`);
    const env = { DEPLOYKIT_BUS_URL: broker.url, DEPLOYKIT_BUS_PREFIX: uniquePrefix() };
    const tail = deploykit(["tail", "events", "--count", "1"], env);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("tail did not start listening")), 15_000);
      tail.stderr?.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("tail: listening")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const published = await deploykit(["publish", "events", '{"text":"hello from the CLI"}'], env);
    t.is(published.exitCode, 0, published.stderr);
    const id = published.stdout.trim();
    const tailed = await tail;
    t.is(tailed.exitCode, 0, tailed.stderr);
    const envelope = JSON.parse(tailed.stdout.trim()) as { id: string; type: string; body: { text: string }; source: { component: string } };
    t.is(envelope.id, id);
    t.is(envelope.type, "events.v1");
    t.is(envelope.body.text, "hello from the CLI");
    t.is(envelope.source.component, "cli");

    const keepalives = deploykit(["tail", "keepalive", "--count", "2"], env);
    await new Promise<void>((resolve) => keepalives.stderr?.on("data", (c: Buffer) => c.toString().includes("listening") && resolve()));
    const daemon = deploykit(["daemon", "keepalive"], { ...env, DEPLOYKIT_KEEPALIVE_INTERVAL: "200ms", DEPLOYKIT_LOG_FORMAT: "json", DEPLOYKIT_BUS_HOST: "cli-test" });
    const beats = await keepalives;
    const seqs = beats.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { body: { seq: number; host: string } });
    // Consecutive, not necessarily from 1: a beat due before the daemon's first
    // connection is up is not sent (its publish waits one interval at most).
    const [first, second] = seqs.map((m) => m.body.seq);
    t.true(typeof first === "number" && first >= 1 && second === first + 1, `seqs ${first}, ${second}`);
    t.is(seqs[0]?.body.host, "cli-test");
    daemon.kill("SIGTERM");
    const stopped = await daemon;
    t.is(stopped.exitCode, 0, stopped.stderr);
    const lines = stopped.stdout.trim().split("\n").map((line) => JSON.parse(line) as { msg: string });
    t.truthy(lines.find((l) => l.msg === "keepalive started"));
    t.truthy(lines.find((l) => l.msg === "keepalive stopped"));
  });
}
