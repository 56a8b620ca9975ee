import { generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * Writes a new Ed25519 pair as `<dir>/<name>.key` (PKCS#8 PEM, mode 0600) and
 * `<dir>/<name>.pub` (SPKI PEM). Never overwrites: an existing file of either
 * name fails the call (EEXIST) before anything is written over.
 */
export function writeKeyPair(dir: string, name: string): { privateKey: string; publicKey: string } {
  const privateKey = path.join(dir, `${name}.key`);
  const publicKey = path.join(dir, `${name}.pub`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const pair = generateKeyPairSync("ed25519");
  // wx: never overwrite a key another process wrote meanwhile.
  writeFileSync(privateKey, pair.privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600, flag: "wx" });
  chmodSync(privateKey, 0o600);
  writeFileSync(publicKey, pair.publicKey.export({ type: "spki", format: "pem" }), { mode: 0o644, flag: "wx" });
  return { privateKey, publicKey };
}
