import { createPrivateKey, createPublicKey, sign, verify } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { ensureKeyPair } from "../../shared/ensure-key-pair.ts";

test("makes an Ed25519 pair once, private key 0600, and keeps it on later calls", (t) => {
  const dir = join(mkdtempSync(join(tmpdir(), "dk-keys-")), "keys");
  const first = ensureKeyPair(dir);
  t.true(first.created);
  t.is(statSync(first.privateKey).mode & 0o777, 0o600);
  const privateKey = createPrivateKey(readFileSync(first.privateKey));
  const publicKey = createPublicKey(readFileSync(first.publicKey));
  t.is(privateKey.asymmetricKeyType, "ed25519");
  const signature = sign(null, Buffer.from("deploy shop v1"), privateKey);
  t.true(verify(null, Buffer.from("deploy shop v1"), publicKey, signature), "the two files are one pair");
  const before = readFileSync(first.privateKey, "utf8");
  const second = ensureKeyPair(dir);
  t.false(second.created);
  t.is(readFileSync(second.privateKey, "utf8"), before);
});

test("refuses a private key that other users can read", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "dk-keys-"));
  const { privateKey } = ensureKeyPair(dir);
  chmodSync(privateKey, 0o644);
  t.throws(() => ensureKeyPair(dir), { message: /readable by other users \(mode 644\): chmod 600 it/ });
});
