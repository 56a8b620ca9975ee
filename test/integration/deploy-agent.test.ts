import { readFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { execa } from "execa";
import { AppRepo, agentConfig, agentDirs, Conductor, recordingScript, startAgent, writeApp } from "../daemons/deploy-agent/agent-fixture.ts";
import { brokers } from "../helpers/brokers.ts";
import { startTestBroker } from "../helpers/embedded-broker.ts";
import { uniquePrefix } from "../helpers/test-bus.ts";

// The deploy agent on real brokers: a signed request deploys, a failed health
// check rolls back, the rollback action switches back, a forged request is
// refused; on the embedded broker the requests come from `deploykit keygen`
// and `deploykit publish --sign-key`, as an operator would send them by hand.

const embedded = await startTestBroker();
test.after.always(() => embedded.close());

const targets = [
  { name: "embedded", url: embedded.url },
  { name: "rabbitmq-stomp", url: brokers.find((b) => b.name === "rabbitmq-stomp")?.url as string },
];

const cli = join(import.meta.dirname, "../../cli/deploykit.js");
const files = {
  "bin/hook": { content: recordingScript, mode: 0o755 },
  "deploykit.yml": "restart: bin/hook\nhealthCheck:\n  command: [bin/hook]\n  retries: 0\n",
};

for (const target of targets) {
  test(`${target.name}: deploy, roll back on a failed health check, roll back on request, refuse a forgery`, async (t) => {
    const dirs = agentDirs(t);
    const repo = await AppRepo.create(t, dirs.mirrorDir);
    writeApp(dirs, "shop", { repo: "acme/shop" });
    const prefix = uniquePrefix();
    const conductor = await Conductor.start(t, target.url, prefix, join(dirs.keysDir, "conductor.key"));
    await startAgent(t, target.url, prefix, agentConfig(dirs, "web-1"));
    const current = () => readFileSync(join(dirs.root, "shop", "current", "index.html"), "utf8");

    const v1 = await repo.commit({ ...files, "index.html": "v1" }, "v1");
    const first = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1", sha: v1, target: { identities: ["web-1"] } }));
    t.is(first.outcome, "succeeded", first.reason);
    const v2 = await repo.commit({ ...files, "index.html": "v2" }, "v2");
    const second = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v2", sha: v2 }));
    t.is(second.outcome, "succeeded", second.reason);
    t.is(current(), "v2");

    const v3 = await repo.commit({ ...files, "index.html": "v3" }, "v3");
    await execa("touch", [join(dirs.out, "fail-verify")]);
    const broken = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v3", sha: v3 }));
    t.is(broken.outcome, "rolled-back", broken.reason);
    t.is(current(), "v2");
    await execa("rm", [join(dirs.out, "fail-verify")]);

    const back = await conductor.result(await conductor.send({ app: "shop", action: "rollback" }));
    t.is(back.outcome, "succeeded", back.reason);
    t.is(back.release, first.release);
    t.is(current(), "v1");

    const forged = conductor.results.length;
    await conductor.sendRaw({ ...(await signedElsewhere(dirs.dir, v3)), deployId: "d-forged" });
    const refused = await conductor.result("d-forged");
    t.is(refused.outcome, "refused");
    t.is(current(), "v1");
    t.true(conductor.results.length > forged);
    const progress = conductor.progress.filter((m) => m.body.deployId === "d-forged");
    t.is(progress.length, 0, "a refused request runs no step");
  });
}

/** A request signed with a fresh key the agent has never heard of. */
async function signedElsewhere(dir: string, sha: string): Promise<Record<string, unknown>> {
  const { readSigningKey, signDeployRequest } = await import("../../shared/deploy-signature.ts");
  await execa(process.execPath, [cli, "keygen", "--dir", join(dir, "elsewhere"), "--name", "mallory"]);
  return signDeployRequest({ deployId: "d-forged", app: "shop", environment: "production", ref: "refs/tags/v3", sha, target: {}, ttl: 60 }, readSigningKey(join(dir, "elsewhere", "mallory.key")));
}

test("embedded: deploykit keygen and deploykit publish --sign-key deploy by hand", async (t) => {
  const dirs = agentDirs(t);
  const repo = await AppRepo.create(t, dirs.mirrorDir);
  writeApp(dirs, "shop", { repo: "acme/shop" });
  const prefix = uniquePrefix();
  const keygen = await execa(process.execPath, [cli, "keygen", "--dir", join(dirs.dir, "operator"), "--name", "ops"]);
  t.regex(keygen.stdout, /key id {6}ed25519:[0-9a-f]{16}/);
  const again = await execa(process.execPath, [cli, "keygen", "--dir", join(dirs.dir, "operator"), "--name", "ops"], { reject: false });
  t.is(again.exitCode, 73, "keygen never overwrites a key");

  const conductor = await Conductor.start(t, embedded.url, prefix, join(dirs.keysDir, "conductor.key"));
  await startAgent(t, embedded.url, prefix, { ...agentConfig(dirs, "web-1"), trustedKeys: [join(dirs.dir, "operator")] });
  const sha = await repo.commit({ ...files, "index.html": "by hand" }, "v1");
  const body = JSON.stringify({ deployId: "d-by-hand", app: "shop", environment: "production", ref: "refs/tags/v1", sha, target: { identities: ["web-1"] }, ttl: 60 });
  const env = { ...process.env, DEPLOYKIT_BUS_URL: embedded.url, DEPLOYKIT_BUS_PREFIX: prefix, DEPLOYKIT_CONFIG: join(dirs.dir, "empty.yaml") };
  await execa("touch", [join(dirs.dir, "empty.yaml")]);
  const published = await execa(process.execPath, [cli, "publish", "deploy.requests", "--sign-key", join(dirs.dir, "operator", "ops.key"), body], { env, reject: false });
  t.is(published.exitCode, 0, published.stderr);
  const result = await conductor.result("d-by-hand");
  t.is(result.outcome, "succeeded", result.reason);
  t.is(readFileSync(join(dirs.root, "shop", "current", "index.html"), "utf8"), "by hand");

  const unsigned = await execa(process.execPath, [cli, "publish", "deploy.requests", body], { env, reject: false });
  t.is(unsigned.exitCode, 65, "without --sign-key the request lacks its signature fields and is not published");
  t.regex(unsigned.stderr, /signature|nonce|issuedAt/);
});
