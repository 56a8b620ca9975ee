import { existsSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { readSigningKey, signDeployRequest } from "../../../shared/deploy-signature.ts";
import type { BodyOf, Envelope } from "../../../shared/messages/index.ts";
import { writeKeyPair } from "../../../shared/write-key-pair.ts";
import { waitFor } from "../../helpers/test-bus.ts";
import { AppRepo, agentConfig, agentDirs, Conductor, recordingScript, startAgent, uniqueBus, writeApp } from "./agent-fixture.ts";

// What the agent refuses, and that a refusal runs nothing: forged, tampered,
// expired, future and replayed requests get outcome refused with the reason;
// requests built to inject never reach git or a shell.

const files = { "bin/hook": { content: recordingScript, mode: 0o755 }, "deploykit.yml": "scripts:\n  pre-link: bin/hook\n" };

async function setup(t: import("ava").ExecutionContext, overrides: Parameters<typeof agentConfig>[2] = {}) {
  const dirs = agentDirs(t);
  const repo = await AppRepo.create(t, dirs.mirrorDir);
  writeApp(dirs, "shop", { repo: "acme/shop" });
  const { url, prefix } = uniqueBus();
  const conductor = await Conductor.start(t, url, prefix, join(dirs.keysDir, "conductor.key"));
  const deadletters: Envelope<BodyOf<"deadletter">>[] = [];
  await conductor.bus.subscribe("deadletter", (message) => void deadletters.push(message));
  const agent = await startAgent(t, url, prefix, agentConfig(dirs, "web-1", overrides));
  const sha = await repo.commit(files, "v1");
  const nothingRan = () => !existsSync(join(dirs.out, "pre-link.env")) && !existsSync(join(dirs.root, "shop", "current"));
  return { dirs, repo, conductor, sha, deadletters, nothingRan, agent, url, prefix };
}

test("a request signed by a key the agent does not trust is refused and nothing runs", async (t) => {
  const { dirs, conductor, sha, nothingRan } = await setup(t);
  writeKeyPair(dirs.keysDir, "intruder");
  const deployId = await conductor.send({ app: "shop", ref: "refs/tags/v1", sha }, readSigningKey(join(dirs.keysDir, "intruder.key")));
  const result = await conductor.result(deployId);
  t.is(result.outcome, "refused");
  t.regex(result.reason ?? "", /not among the trusted keys/);
  t.true(nothingRan());
});

test("a request altered after signing, or carrying a signature by another key under the trusted key id, is refused", async (t) => {
  const { dirs, conductor, sha, nothingRan } = await setup(t);
  const signed = signDeployRequest({ deployId: "d-tampered", app: "shop", environment: "production", ref: "refs/tags/v1", sha, target: {}, ttl: 60 }, conductor.key);
  await conductor.sendRaw({ ...signed, environment: "staging" });
  const tampered = await conductor.result("d-tampered");
  t.is(tampered.outcome, "refused");
  t.regex(tampered.reason ?? "", /bad signature/);

  writeKeyPair(dirs.keysDir, "other");
  const other = signDeployRequest({ deployId: "d-swapped", app: "shop", environment: "production", ref: "refs/tags/v1", sha, target: {}, ttl: 60 }, readSigningKey(join(dirs.keysDir, "other.key")));
  await conductor.sendRaw({ ...other, keyId: signed.keyId });
  t.regex((await conductor.result("d-swapped")).reason ?? "", /bad signature/);

  await conductor.sendRaw({ ...signed, deployId: "d-garbage", signature: "not base64 at all!" });
  t.regex((await conductor.result("d-garbage")).reason ?? "", /not a base64 Ed25519 signature/);
  t.true(nothingRan());
});

test("expired requests, requests from the future and TTLs beyond maxTtl are refused", async (t) => {
  const { conductor, sha, nothingRan } = await setup(t, { maxTtl: 60_000, clockSkew: 5_000 });
  const old = new Date(Date.now() - 120_000).toISOString();
  t.regex((await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1", sha, issuedAt: old, ttl: 60 }))).reason ?? "", /^expired/);
  // The request claims an hour; the agent honours maxTtl (60 s), so two minutes old is too old.
  t.regex((await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1", sha, issuedAt: old, ttl: 3600 }))).reason ?? "", /^expired.*ttl 60 s/);
  const future = new Date(Date.now() + 60_000).toISOString();
  t.regex((await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1", sha, issuedAt: future }))).reason ?? "", /issued in the future/);
  t.true(nothingRan());
});

test("a replayed request is refused, even by an agent restarted in between", async (t) => {
  const { dirs, conductor, sha, agent, url, prefix } = await setup(t);
  const request = signDeployRequest({ deployId: "d-once", app: "shop", environment: "production", ref: "refs/tags/v1", sha, target: {}, ttl: 60 }, conductor.key);
  await conductor.sendRaw(request);
  t.is((await conductor.result("d-once")).outcome, "succeeded");

  await conductor.sendRaw(request);
  await waitFor(() => conductor.results.filter((m) => m.body.deployId === "d-once").length === 2, 10_000, "the replay's answer");
  const replay = conductor.results.filter((m) => m.body.deployId === "d-once")[1]?.body;
  t.is(replay?.outcome, "refused");
  t.regex(replay?.reason ?? "", /^replayed/);

  // The agent restarted on the same state directory remembers the nonce from disk.
  await agent.stop();
  await startAgent(t, url, prefix, agentConfig(dirs, "web-1"));
  await conductor.sendRaw(request);
  await waitFor(() => conductor.results.filter((m) => m.body.deployId === "d-once").length === 3, 10_000, "the answer after the restart");
  const afterRestart = conductor.results.filter((m) => m.body.deployId === "d-once")[2]?.body;
  t.is(afterRestart?.outcome, "refused");
  t.regex(afterRestart?.reason ?? "", /^replayed/);
});

test("names and refs built to inject are refused before anything runs, and the agent keeps working", async (t) => {
  const { conductor, sha, deadletters, nothingRan, dirs, url, prefix } = await setup(t);
  const unsigned = { environment: "production", target: {}, ttl: 60, issuedAt: new Date().toISOString(), nonce: "0123456789abcdef0123", signature: "x" };
  await conductor.sendInvalid(t, url, prefix, { ...unsigned, deployId: "d-dash", app: "shop", ref: "--upload-pack=touch /tmp/pwned", sha });
  await conductor.sendInvalid(t, url, prefix, { ...unsigned, deployId: "d-dots", app: "../../etc", ref: "refs/tags/v1", sha });
  await conductor.sendInvalid(t, url, prefix, { ...unsigned, deployId: "d-sha", app: "shop", ref: "refs/tags/v1", sha: "$(touch /tmp/pwned)" });
  await waitFor(() => deadletters.length >= 3, 10_000, "three dead letters");
  t.true(deadletters.every((m) => m.body.reason.length > 0));
  t.true(deadletters.some((m) => /ref/.test(m.body.reason)), deadletters.map((m) => m.body.reason).join(" | "));

  // A ref git allows but a shell would expand: it stays data, git does not know it, nothing runs.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell syntax is the point: it must stay inert
  const sneaky = "refs/tags/$(touch${IFS}pwned)";
  const result = await conductor.result(await conductor.send({ app: "shop", ref: sneaky, sha }));
  t.is(result.outcome, "failed");
  t.is(result.failedStep, "preflight");
  t.regex(result.reason ?? "", /does not exist/);
  t.true(nothingRan());
  t.false(existsSync(join(dirs.out, "pwned")));
  t.false(existsSync("/tmp/pwned"));

  const good = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1", sha }));
  t.is(good.outcome, "succeeded", "the agent still deploys after all that");
});

test("a sha its ref does not name is refused, as is an app this host does not carry when the host is named", async (t) => {
  const { repo, conductor, sha, nothingRan } = await setup(t);
  const other = await repo.commit({ "index.html": "other" }, "v2");
  const mismatch = await conductor.result(await conductor.send({ app: "shop", ref: "refs/tags/v1", sha: other }));
  t.is(mismatch.outcome, "failed");
  t.regex(mismatch.reason ?? "", /refs\/tags\/v1 is .* not /);
  t.true(nothingRan());
  void sha;

  const unknown = await conductor.result(await conductor.send({ app: "blog", ref: "refs/tags/v1", sha, target: { identities: ["web-1"] } }));
  t.is(unknown.outcome, "refused");
  t.regex(unknown.reason ?? "", /app blog is not configured on web-1/);
});
