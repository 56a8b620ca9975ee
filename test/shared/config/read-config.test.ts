import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { envName, parseDuration } from "../../../shared/config/config-schema.ts";
import { readConfig } from "../../../shared/config/read-config.ts";
import { configSections } from "../../../shared/run-daemon.ts";
import { daemons } from "../../../daemons/index.ts";

const sections = configSections(daemons);

function file(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "dk-config-")), "deploykit.yaml");
  writeFileSync(path, text);
  return path;
}

test("environment names are section and key in upper snake case", (t) => {
  t.is(envName("bus", "url"), "DEPLOYKIT_BUS_URL");
  t.is(envName("keepalive", "interval"), "DEPLOYKIT_KEEPALIVE_INTERVAL");
  t.is(envName("repo-fetcher", "mirrorDir"), "DEPLOYKIT_REPO_FETCHER_MIRROR_DIR");
});

test("durations read as people write them", (t) => {
  t.is(parseDuration("30s"), 30_000);
  t.is(parseDuration("500ms"), 500);
  t.is(parseDuration("1.5m"), 90_000);
  t.is(parseDuration("2h"), 7_200_000);
  t.is(parseDuration("250"), 250);
  t.is(parseDuration(1000), 1000);
  for (const bad of ["soon", "-1s", "1 week", "", 1.5]) t.is(parseDuration(bad), undefined, String(bad));
});

test("defaults apply with no file and an empty environment", (t) => {
  const { values, file: used } = readConfig(sections, { env: {} });
  t.is((values.bus as { url: string }).url, "stomp://127.0.0.1:61613");
  t.is((values.keepalive as { interval: number }).interval, 30_000);
  t.is(used, undefined);
});

test("the file sets values and the environment overrides it", (t) => {
  const path = file("bus:\n  url: amqp://rabbit:5672\n  prefix: acme\nkeepalive:\n  interval: 45s\n  topics: [keepalive, keepalive.dmz]\n");
  const fromFile = readConfig(sections, { file: path, env: {} }).values;
  t.is((fromFile.bus as { url: string }).url, "amqp://rabbit:5672");
  t.is((fromFile.keepalive as { interval: number }).interval, 45_000);
  t.deepEqual((fromFile.keepalive as { topics: string[] }).topics, ["keepalive", "keepalive.dmz"]);
  const env = { DEPLOYKIT_BUS_URL: "stomp://other:61613", DEPLOYKIT_KEEPALIVE_INTERVAL: "5s", DEPLOYKIT_KEEPALIVE_TOPICS: "keepalive.a, keepalive.b" };
  const overridden = readConfig(sections, { file: path, env }).values;
  t.is((overridden.bus as { url: string }).url, "stomp://other:61613");
  t.is((overridden.bus as { prefix: string }).prefix, "acme");
  t.is((overridden.keepalive as { interval: number }).interval, 5_000);
  t.deepEqual((overridden.keepalive as { topics: string[] }).topics, ["keepalive.a", "keepalive.b"]);
});

test("DEPLOYKIT_CONFIG chooses the file", (t) => {
  const path = file("log:\n  level: debug\n");
  t.is((readConfig(sections, { env: { DEPLOYKIT_CONFIG: path } }).values.log as { level: string }).level, "debug");
});

test("a wrong value stops start-up naming the key, the variable and the file", (t) => {
  const path = file("keepalive:\n  interval: often\n");
  const error = t.throws(() => readConfig(sections, { file: path, env: {} }));
  t.regex(error?.message ?? "", /keepalive\.interval: must be a duration like 30s/);
  t.regex(error?.message ?? "", new RegExp(`set DEPLOYKIT_KEEPALIVE_INTERVAL or keepalive\\.interval in ${path}`));
  const fromEnv = t.throws(() => readConfig(sections, { env: { DEPLOYKIT_LOG_LEVEL: "loud" } }));
  t.regex(fromEnv?.message ?? "", /log\.level: must be one of .*set DEPLOYKIT_LOG_LEVEL/);
});

test("a misspelt key is refused with the keys that exist", (t) => {
  const error = t.throws(() => readConfig(sections, { file: file("keepalive:\n  intervall: 5s\n"), env: {} }));
  t.regex(error?.message ?? "", /keepalive\.intervall: unknown key .*known here: interval, topics, slowRoundTrip/);
});

test("a config file named explicitly must exist; broken YAML is reported", (t) => {
  t.throws(() => readConfig(sections, { file: "/nonexistent/deploykit.yaml", env: {} }), { message: /does not exist/ });
  t.throws(() => readConfig(sections, { file: file("bus: [unclosed\n"), env: {} }), { message: /cannot be read/ });
});

test("the effective configuration masks secrets but keeps URLs readable", (t) => {
  const env = { DEPLOYKIT_BUS_URL: "stomp://deploy:s3cret@a:61613,stomp://deploy:s3cret@b:61613", DEPLOYKIT_BUS_PASSCODE: "hunter2" };
  const text = readConfig(sections, { env }).describe();
  t.false(text.includes("s3cret"));
  t.false(text.includes("hunter2"));
  t.regex(text, /stomp:\/\/deploy:\*+@a:61613\/?,stomp:\/\/deploy:\*+@b:61613/);
  t.regex(text, /passcode: "?\*+"?/);
});
