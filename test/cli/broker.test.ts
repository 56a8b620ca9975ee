import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { execa } from "execa";
import { Authenticator } from "../../daemons/broker/authenticator.ts";
import { testBus, uniquePrefix, waitFor } from "../helpers/test-bus.ts";

const root = new URL("../../../", import.meta.url).pathname;
const bin = join(root, "bin", "deploykit");
const env = { PATH: process.env.PATH ?? "", DEPLOYKIT_CONFIG: "", DEPLOYKIT_LOG_FORMAT: "json", DEPLOYKIT_BROKER_METRICS_PORT: "0" };

test("broker hash-password prints a hash that the broker accepts for that password only", async (t) => {
  const result = await execa(bin, ["broker", "hash-password"], { input: "correct horse battery\n", env, extendEnv: false });
  const hash = result.stdout.trim();
  t.regex(hash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  t.false(hash.includes("correct horse"));
  const auth = new Authenticator([`web-1:${hash}`], "none");
  t.deepEqual(await auth.check("web-1", "correct horse battery", "10.0.0.5"), { ok: true, user: "web-1" });
  t.false((await auth.check("web-1", "correct horse", "10.0.0.5")).ok);
  const short = await execa(bin, ["broker", "hash-password"], { input: "short\n", env, extendEnv: false, reject: false });
  t.is(short.exitCode, 64);
  t.regex(short.stderr, /shorter than 8 characters/);
});

test("deploykit broker serves clients with a login from broker.users, refuses a wrong one, and stops on SIGTERM", async (t) => {
  const { stdout: hash } = await execa(bin, ["broker", "hash-password"], { input: "a long passphrase", env, extendEnv: false });
  const config = join(mkdtempSync(join(tmpdir(), "dk-broker-")), "deploykit.yaml");
  writeFileSync(config, `broker:\n  anonymous: none\n  users:\n    - "web-1:${hash.trim()}"\n`);
  const child = execa(bin, ["broker", "--port", "0", "--config", config], { env, extendEnv: false, reject: false, all: true });
  t.teardown(() => child.kill("SIGKILL"));
  let output = "";
  child.all?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  await waitFor(() => /"stomp":"stomp:\/\/127\.0\.0\.1:\d+"/.test(output), 20_000, "the broker to listen");
  const url = /"stomp":"(stomp:\/\/127\.0\.0\.1:\d+)"/.exec(output)?.[1] as string;
  const port = new URL(url).port;

  const good = testBus(`stomp://web-1:${encodeURIComponent("a long passphrase")}@127.0.0.1:${port}`, uniquePrefix());
  const bad = testBus(`stomp://web-1:wrong@127.0.0.1:${port}`, uniquePrefix());
  t.teardown(() => Promise.all([good.close({ graceMs: 0 }), bad.close({ graceMs: 0 })]).then(() => {}));
  await good.connected(10_000);
  await good.publish("events", { text: "hello" });
  await t.throwsAsync(bad.connected(2_000));
  await waitFor(() => output.includes("login failed: unknown login or wrong passcode"), 10_000, "the refusal in the broker's log");

  child.kill("SIGTERM");
  const result = await child;
  t.is(result.exitCode, 0);
  t.regex(output, /"msg":"broker stopped"/);
});
