import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { type ResultPromise, execa } from "execa";
import { brokers } from "../helpers/brokers.ts";
import { waitFor } from "../helpers/test-bus.ts";
import { AppRepo, Conductor } from "../daemons/deploy-agent/agent-fixture.ts";

// `deploykit up` as an operator runs it: the real bin/deploykit in a child
// process, on a temporary data directory and free ports.

const root = new URL("../../../", import.meta.url).pathname;
const bin = join(root, "bin", "deploykit");

function baseEnv(home: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    HOME: home,
    DEPLOYKIT_CONFIG: "",
    DEPLOYKIT_LOG_FORMAT: "json",
    DEPLOYKIT_BROKER_METRICS_PORT: "0",
    DEPLOYKIT_KEEPALIVE_INTERVAL: "300ms",
    DEPLOYKIT_GITHUB_TO_BUS_PORT: "0",
    DEPLOYKIT_JENKINS_STATUS_PORT: "0",
    DEPLOYKIT_REPO_FETCHER_REPOS_FILE: join(home, "repos.d"),
    DEPLOYKIT_DEPLOY_AGENT_FACTER: "false",
    DEPLOYKIT_DEPLOY_AGENT_IDENTITY: "up-host",
    DEPLOYKIT_DEPLOY_AGENT_MIN_FREE_MEGABYTES: "1",
  };
}

/** Starts `deploykit up` and resolves with its output so far once it printed that it is up. */
async function up(args: string[], env: Record<string, string>): Promise<{ child: ResultPromise; output: () => string }> {
  // A free API port unless the test chose one: tests run side by side.
  const apiPort = args.includes("--api-port") ? [] : ["--api-port", "0"];
  const child = execa(bin, ["up", ...args, ...apiPort], { env, extendEnv: false, reject: false, timeout: 60_000, all: true });
  let output = "";
  child.all?.on("data", (chunk: Buffer) => {
    output += chunk.toString("utf8");
  });
  let exited = false;
  void child.then(() => {
    exited = true;
  });
  await waitFor(() => output.includes("Stop with Ctrl-C.") || exited, 20_000, "deploykit up to start");
  return { child, output: () => output };
}

test("up starts the broker and every daemon on a data directory; a daemon's messages reach others; Ctrl-C stops it cleanly", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "dk-up-"));
  const dataDir = join(home, "data");
  const env = { ...baseEnv(home), DEPLOYKIT_BUS_HOST: "up-host" };
  const { child, output } = await up(["--port", "0", "--data-dir", dataDir], env);
  const others: ResultPromise[] = [];
  t.teardown(() => {
    for (const process of [child, ...others]) process.kill("SIGKILL");
  });
  const summary = output();
  t.regex(summary, /deploykit \S+ is up: broker, keepalive, github-to-bus, bus-to-jenkins, jenkins-status, repo-fetcher, package-watcher, conductor, deploy-agent\n/);
  const stomp = /broker stomp\s+(stomp:\/\/127\.0\.0\.1:\d+)/.exec(summary)?.[1];
  const metrics = /broker metrics\s+(http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(summary)?.[1];
  t.truthy(stomp, summary);
  const webhooks = /github-to-bus http\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(summary)?.[1];
  t.is((await fetch(`${webhooks}/healthz`)).status, 200, "github-to-bus serves inside up");
  t.truthy(metrics, summary);
  t.regex(summary, new RegExp(`signing key\\s+${join(dataDir, "keys", "deploy-signing.pub")} \\(new pair\\)`));
  t.is(statSync(join(dataDir, "keys", "deploy-signing.key")).mode & 0o777, 0o600);

  // The same daemon run alone, as on another host, connected to the broker `up` started.
  const alone = execa(bin, ["daemon", "keepalive", "--bus", stomp as string], {
    env: { ...baseEnv(home), DEPLOYKIT_BUS_HOST: "other-host" },
    extendEnv: false,
    reject: false,
  });
  others.push(alone);
  const tail = await execa(bin, ["tail", "keepalive", "--bus", stomp as string, "--count", "12"], { env: baseEnv(home), extendEnv: false, timeout: 20_000 });
  const hosts = new Set(tail.stdout.trim().split("\n").map((line) => (JSON.parse(line) as { source: { host: string } }).source.host));
  t.deepEqual([...hosts].sort(), ["other-host", "up-host"], "keepalives from the daemon inside up and from the one alone");

  const scraped = await (await fetch(metrics as string)).text();
  const messagesIn = Number(/^deploykit_broker_messages_in_total (\d+)$/m.exec(scraped)?.[1]);
  t.true(messagesIn >= 12, `messages in: ${messagesIn}`);
  t.regex(scraped, /^deploykit_broker_connections [2-9]$/m);
  t.false(output().includes("did not come back"), "the keepalive inside up times its own round trips");

  alone.kill("SIGTERM");
  child.kill("SIGINT");
  const [result] = await Promise.all([child, alone]);
  t.is(result.exitCode, 0, String(result.all));
  const log = output();
  const stoppedKeepalive = log.indexOf('"msg":"keepalive stopped"');
  const stoppedBroker = log.indexOf('"msg":"broker stopped"');
  t.true(stoppedKeepalive > 0 && stoppedBroker > stoppedKeepalive, "daemons stop before the broker they talk through");
});

test("up --bus runs every daemon on an external broker and starts no broker of its own", async (t) => {
  const rabbit = brokers.find((b) => b.name === "rabbitmq-stomp")?.url as string;
  const home = mkdtempSync(join(tmpdir(), "dk-up-"));
  const { child, output } = await up(["--bus", rabbit, "--data-dir", join(home, "data")], baseEnv(home));
  t.teardown(() => child.kill("SIGKILL"));
  t.regex(output(), /is up: keepalive, github-to-bus, bus-to-jenkins, jenkins-status, repo-fetcher, package-watcher, conductor, deploy-agent\n/);
  t.false(output().includes("broker stomp"));
  t.regex(output(), /bus\s+stomp:\/\/guest:\*\*\*@127\.0\.0\.1:61613/);
  child.kill("SIGINT");
  t.is((await child).exitCode, 0);
});

test("up refuses a port that is taken, in one line", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "dk-up-"));
  // RabbitMQ's STOMP plugin holds 61613 on this machine (.ci/brokers).
  const result = await execa(bin, ["up", "--port", "61613", "--data-dir", join(home, "data")], { env: baseEnv(home), extendEnv: false, reject: false, timeout: 20_000 });
  t.is(result.exitCode, 1);
  t.regex(result.stderr, /deploykit up could not start: 127\.0\.0\.1:61613 is already in use: stop what listens there, or choose another port/);
});

test("the deploy agent inside up obeys a request signed with the data directory's key", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "dk-up-"));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  chmodSync(home, 0o755);
  const dataDir = join(home, "data");
  const dirs = { mirrorDir: join(home, "mirrors"), root: join(home, "srv") };
  const repo = await AppRepo.create(t, dirs.mirrorDir);
  const sha = await repo.commit({ "index.html": "from up" }, "v1");
  mkdirSync(join(dataDir, "apps.d"), { recursive: true });
  writeFileSync(join(dataDir, "apps.d", "shop.yaml"), `mirror: ${repo.mirror}\nroot: ${dirs.root}\nuser: nobody\n`);
  const { child, output } = await up(["--port", "0", "--data-dir", dataDir], baseEnv(home));
  t.teardown(() => child.kill("SIGKILL"));
  const stomp = /broker stomp\s+(stomp:\/\/127\.0\.0\.1:\d+)/.exec(output())?.[1] as string;
  t.truthy(stomp, output());
  const conductor = await Conductor.start(t, stomp, "deploykit", join(dataDir, "keys", "deploy-signing.key"));
  const result = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1", sha, target: { identities: ["up-host"] } }));
  t.is(result.outcome, "succeeded", result.reason);
  t.is(readFileSync(join(dirs.root, "shop", "current", "index.html"), "utf8"), "from up");
  t.true(existsSync(join(dataDir, "agent", "nonces")), "the agent keeps its state under the data directory");
  child.kill("SIGINT");
  t.is((await child).exitCode, 0);
});
