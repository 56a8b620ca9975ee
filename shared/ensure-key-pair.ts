import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { writeKeyPair } from "./write-key-pair.ts";

export interface KeyPairFiles {
  privateKey: string;
  publicKey: string;
  /** True when this call generated the pair. */
  created: boolean;
}

/**
 * The Ed25519 pair the conductor signs deploy requests with and agents trust:
 * `<dir>/deploy-signing.key` (PKCS#8 PEM, mode 0600) and `.pub` (SPKI PEM).
 * An existing pair is kept; a private key readable by others is refused.
 */
export function ensureKeyPair(dir: string): KeyPairFiles {
  const privateKey = path.join(dir, "deploy-signing.key");
  const publicKey = path.join(dir, "deploy-signing.pub");
  if (existsSync(privateKey)) {
    const mode = statSync(privateKey).mode & 0o777;
    if (mode & 0o077) throw new Error(`${privateKey} is readable by other users (mode ${mode.toString(8)}): chmod 600 it`);
    if (!existsSync(publicKey)) throw new Error(`${privateKey} exists but ${publicKey} does not: restore it, or move both away to make a new pair`);
    return { privateKey, publicKey, created: false };
  }
  writeKeyPair(dir, "deploy-signing");
  return { privateKey, publicKey, created: true };
}
