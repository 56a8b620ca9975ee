import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { execa } from "execa";
import type { BodyOf, Envelope } from "../../shared/messages/index.ts";
import { startTestBroker } from "../helpers/embedded-broker.ts";
import { testBus, uniquePrefix, waitFor } from "../helpers/test-bus.ts";

// `deploykit jenkins-notify` as a Jenkins shell step runs it: the real
// bin/deploykit in a child process, with the environment Jenkins gives a build.

const root = new URL("../../../", import.meta.url).pathname;
const bin = join(root, "bin", "deploykit");
const sha = "9b2f4c0d6e8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c";

const jenkinsEnv = {
  JOB_NAME: "team/shop/main",
  BUILD_NUMBER: "42",
  BUILD_URL: "https://ci.example.com/job/team/job/shop/job/main/42/",
  GIT_COMMIT: sha,
  GIT_BRANCH: "origin/main",
  GIT_URL: "git@github.com:Acme/Shop.git",
};

function notify(args: string[], env: Record<string, string>) {
  return execa(bin, ["jenkins-notify", ...args], {
    env: { PATH: process.env.PATH ?? "", DEPLOYKIT_CONFIG: "", DEPLOYKIT_LOG_FORMAT: "json", ...env },
    extendEnv: false,
    reject: false,
    timeout: 30_000,
  });
}

test("reads the build's environment and publishes builds.v1 with repo, ref and sha, continuing the push's chain", async (t) => {
  const broker = await startTestBroker();
  const prefix = uniquePrefix();
  const watcher = testBus(broker.url, prefix);
  t.teardown(async () => {
    await watcher.close({ graceMs: 0 });
    await broker.close();
  });
  const builds: Envelope<BodyOf<"builds">>[] = [];
  await watcher.subscribe("builds", (m) => void builds.push(m));
  await watcher.connected(10_000);
  const env = { ...jenkinsEnv, DEPLOYKIT_BUS_URL: broker.url, DEPLOYKIT_BUS_PREFIX: prefix };
  const correlationId = "3f0e6c4e-9a51-4c1e-8a43-5b0f1e7d2c11";

  const started = await notify(["--phase", "started"], { ...env, DEPLOYKIT_CORRELATION_ID: correlationId });
  t.is(started.exitCode, 0, started.stderr);
  const succeeded = await notify(["--phase", "succeeded", "--artifact", "shop.tar.gz=https://ci.example.com/job/team/job/shop/job/main/42/artifact/shop.tar.gz"], {
    ...env,
    // A multibranch job: DEPLOYKIT_REF from bus-to-jenkins wins over what the checkout says.
    DEPLOYKIT_REF: "refs/heads/main",
    GIT_BRANCH: "main",
    DEPLOYKIT_REPO: "acme/shop",
  });
  t.is(succeeded.exitCode, 0, succeeded.stderr);
  await waitFor(() => builds.length === 2, 10_000, "two builds");
  const [first, second] = builds;
  t.is(first?.id, started.stdout.trim(), "prints the envelope id");
  t.is(first?.correlationId, correlationId);
  t.is(first?.source.component, "jenkins-notify");
  const expected = { job: "team/shop/main", number: 42, phase: "started", repo: "acme/shop", ref: "refs/heads/main", sha, url: jenkinsEnv.BUILD_URL, artifacts: [] };
  t.deepEqual(first?.body, expected);
  t.deepEqual(second?.body, {
    ...expected,
    phase: "succeeded",
    artifacts: [{ name: "shop.tar.gz", url: "https://ci.example.com/job/team/job/shop/job/main/42/artifact/shop.tar.gz" }],
  });
  t.is(second?.correlationId, second?.id, "without DEPLOYKIT_CORRELATION_ID the build starts its own chain");
});

test("bad input exits 65 with one line and publishes nothing; nothing runs", async (t) => {
  const marker = join(mkdtempSync(join(tmpdir(), "dk-jn-")), "pwned");
  // Nothing listens here: a command that got as far as publishing would exit 69, not 65.
  const bus = { DEPLOYKIT_BUS_URL: "stomp://127.0.0.1:1" };
  const cases: [Record<string, string>, string[], RegExp][] = [
    [{ ...jenkinsEnv, JOB_NAME: "" }, [], /^deploykit: jenkins-notify: JOB_NAME is not set/],
    [{ ...jenkinsEnv, BUILD_NUMBER: "42; touch x" }, [], /^deploykit: jenkins-notify: BUILD_NUMBER "42; touch x" is not a build number/],
    [{ ...jenkinsEnv, GIT_BRANCH: `$(touch ${marker})` }, [], /^deploykit: jenkins-notify: GIT_BRANCH "\$\(touch .*\)" is not a valid git branch name/],
    [{ ...jenkinsEnv, DEPLOYKIT_REF: `--upload-pack=touch ${marker}` }, [], /^deploykit: jenkins-notify: DEPLOYKIT_REF "--upload-pack=touch .*" is not a full git ref/],
    [{ ...jenkinsEnv, GIT_COMMIT: `$(touch ${marker})` }, [], /^deploykit: jenkins-notify: GIT_COMMIT "\$\(touch .*\)" is not a full hex commit id/],
    [{ ...jenkinsEnv, DEPLOYKIT_CORRELATION_ID: "yesterday" }, [], /DEPLOYKIT_CORRELATION_ID "yesterday" is not a uuid/],
    [jenkinsEnv, ["--artifact", "shop.tar.gz"], /--artifact "shop\.tar\.gz" must be NAME=URL/],
  ];
  for (const [env, extra, message] of cases) {
    const result = await notify(["--phase", "succeeded", ...extra], { ...env, ...bus });
    t.is(result.exitCode, 65, result.stderr);
    t.regex(result.stderr, message);
    t.is(result.stderr.trim().split("\n").length, 1, "one line");
    t.is(result.stdout, "");
  }
  const wrongPhase = await notify(["--phase", "exploded"], { ...jenkinsEnv, ...bus });
  t.is(wrongPhase.exitCode, 64);
  t.regex(wrongPhase.stderr, /Invalid values:[\s\S]*phase/);
  t.false(existsSync(marker), "nothing ran");
});

test("with no broker it fails within its timeout, exit 69, and never hangs", async (t) => {
  const began = Date.now();
  const result = await notify(["--phase", "failed", "--timeout", "800"], { ...jenkinsEnv, DEPLOYKIT_BUS_URL: "stomp://127.0.0.1:1" });
  const elapsed = Date.now() - began;
  t.is(result.exitCode, 69);
  t.regex(result.stderr, /^deploykit: jenkins-notify: could not publish failed for team\/shop\/main #42: /);
  t.true(elapsed < 8_000, `took ${elapsed} ms`);
});
