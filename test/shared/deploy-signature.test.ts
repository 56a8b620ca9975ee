import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { canonicalJson } from "../../shared/canonical-json.ts";
import { keyIdOf, readTrustedKeys, signDeployRequest, verifyDeployRequest } from "../../shared/deploy-signature.ts";
import { deployRequestsV1 } from "../../shared/messages/types.ts";
import { writeKeyPair } from "../../shared/write-key-pair.ts";

const sha = "a".repeat(40);
const base = { deployId: "d-1", app: "shop", environment: "production", ref: "refs/tags/v1", sha, target: { identities: ["web-1"] }, ttl: 60 };

test("canonical JSON sorts keys at every depth, drops undefined, refuses what JSON cannot carry", (t) => {
  t.is(canonicalJson({ b: 1, a: { d: [3, { f: true, e: null }], c: "x" }, z: undefined }), '{"a":{"c":"x","d":[3,{"e":null,"f":true}]},"b":1}');
  t.is(canonicalJson({ "é": 1, e: 2, E: 3 }), '{"E":3,"e":2,"é":1}');
  t.throws(() => canonicalJson({ n: Number.NaN }));
  t.throws(() => canonicalJson({ d: new Date() }));
  t.throws(() => canonicalJson({ f: () => 1 }));
});

test("a signed request verifies; any changed field, another key or another key id does not", (t) => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const other = generateKeyPairSync("ed25519");
  const trusted = new Map([[keyIdOf(publicKey), publicKey]]);
  const signed = signDeployRequest(base, privateKey);
  t.is(signed.action, "deploy", "the schema's default is part of what was signed");
  t.is(signed.keyId, keyIdOf(publicKey));
  t.regex(signed.nonce, /^[0-9a-f]{32}$/);
  t.deepEqual(verifyDeployRequest(deployRequestsV1.parse(JSON.parse(JSON.stringify(signed))), trusted), { ok: true, keyId: keyIdOf(publicKey) });

  for (const change of [{ sha: "b".repeat(40) }, { environment: "staging" }, { target: {} }, { ttl: 3600 }, { nonce: "f".repeat(32) }, { extra: "field" }, { action: "rollback" }]) {
    const verdict = verifyDeployRequest(deployRequestsV1.parse({ ...signed, ...change }), trusted);
    t.false(verdict.ok, `changed ${Object.keys(change)[0]}`);
  }
  const byOther = signDeployRequest(base, other.privateKey);
  t.regex((verifyDeployRequest(byOther, trusted) as { reason: string }).reason, /not among the trusted keys/);
  t.regex((verifyDeployRequest({ ...byOther, keyId: signed.keyId }, trusted) as { reason: string }).reason, /bad signature/);
  t.false(verifyDeployRequest({ ...signed, keyId: undefined }, trusted).ok, "the key id is signed too: dropping it breaks the signature");
  t.regex((verifyDeployRequest(signed, new Map()) as { reason: string }).reason, /no trusted keys/);
});

test("trusted keys are read from files and directories; private keys and other key types are refused", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dk-keys-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeKeyPair(join(dir, "trusted"), "a");
  writeKeyPair(join(dir, "trusted"), "b");
  const { keys, files } = readTrustedKeys([join(dir, "trusted"), join(dir, "missing")]);
  t.is(keys.size, 2);
  t.deepEqual(files, [join(dir, "trusted", "a.pub"), join(dir, "trusted", "b.pub")]);
  t.throws(() => readTrustedKeys([join(dir, "trusted", "a.key")]), { message: /private key: give the agent only the \.pub/ });
  const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
  writeFileSync(join(dir, "rsa.pub"), rsa.publicKey.export({ type: "spki", format: "pem" }));
  t.throws(() => readTrustedKeys([join(dir, "rsa.pub")]), { message: /is rsa, not Ed25519/ });
});

test("a deploy must carry its ref and a sha or an artifact; rollback and cancel need neither", (t) => {
  const stamp = { issuedAt: new Date().toISOString(), nonce: "0".repeat(32), signature: "x" };
  t.false(deployRequestsV1.safeParse({ ...base, ...stamp, sha: undefined }).success);
  t.false(deployRequestsV1.safeParse({ ...base, ...stamp, ref: undefined }).success);
  t.true(deployRequestsV1.safeParse({ ...base, ...stamp, sha: undefined, artifact: { url: "https://a/b.tar.gz", sha256: "c".repeat(64) } }).success);
  t.true(deployRequestsV1.safeParse({ ...base, ...stamp, action: "rollback", ref: undefined, sha: undefined }).success);
  t.true(deployRequestsV1.safeParse({ ...base, ...stamp, action: "cancel", ref: undefined, sha: undefined }).success);
  t.false(deployRequestsV1.safeParse({ ...base, ...stamp, action: "rollback", release: "../../etc" }).success);
});
