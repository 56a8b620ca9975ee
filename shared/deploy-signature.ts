import { createHash, createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, verify } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { canonicalJson } from "./canonical-json.ts";
import type { BodyInput, BodyOf } from "./messages/index.ts";
import { deployRequestsV1 } from "./messages/types.ts";

export type DeployRequest = BodyOf<"deploy.requests">;
/** What a signer fills in: everything but the signature; keyId, issuedAt and nonce are filled when absent. */
export type UnsignedDeployRequest = Omit<BodyInput<"deploy.requests">, "signature" | "keyId" | "issuedAt" | "nonce"> &
  Partial<Pick<BodyInput<"deploy.requests">, "issuedAt" | "nonce">>;

// Binds a signature to this use: a signature over the same bytes for another purpose cannot be replayed here.
const domain = "deploykit deploy.requests.v1\n";

/** A short, stable name for a public key: `ed25519:` and the first 16 hex digits of the SHA-256 of its SPKI form. */
export function keyIdOf(key: KeyObject): string {
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  const der = publicKey.export({ type: "spki", format: "der" });
  return `ed25519:${createHash("sha256").update(der).digest("hex").slice(0, 16)}`;
}

/**
 * The bytes that are signed: every field of the parsed request (defaults
 * applied, unknown fields kept) except `signature`, in canonical JSON. Signer
 * and verifier both parse with the bus schema first, so a default the schema
 * adds (action: "deploy") is covered on both sides.
 */
export function signingPayload(request: Record<string, unknown>): Buffer {
  const { signature: _signature, ...signed } = request;
  return Buffer.from(domain + canonicalJson(signed), "utf8");
}

/** Signs a request with the conductor's (or an operator's) Ed25519 key; the result is ready to publish. */
export function signDeployRequest(unsigned: UnsignedDeployRequest, privateKey: KeyObject, now = new Date()): DeployRequest {
  if (privateKey.asymmetricKeyType !== "ed25519") throw new Error(`deploy requests are signed with Ed25519 keys, not ${privateKey.asymmetricKeyType}`);
  const filled = {
    ...unsigned,
    issuedAt: unsigned.issuedAt ?? now.toISOString(),
    nonce: unsigned.nonce ?? randomBytes(16).toString("hex"),
    keyId: keyIdOf(privateKey),
    signature: "unsigned",
  };
  const parsed = deployRequestsV1.parse(filled) as DeployRequest & Record<string, unknown>;
  return { ...parsed, signature: sign(null, signingPayload(parsed), privateKey).toString("base64") };
}

export type Verdict = { ok: true; keyId: string } | { ok: false; reason: string };

/** Checks the signature against the trusted keys (by keyId when the request names one). Freshness and replay are the caller's. */
export function verifyDeployRequest(request: DeployRequest, trusted: ReadonlyMap<string, KeyObject>): Verdict {
  if (trusted.size === 0) return { ok: false, reason: "no trusted keys are configured on this host (deploy-agent.trustedKeys)" };
  const signature = /^[A-Za-z0-9+/]+={0,2}$/.test(request.signature) ? Buffer.from(request.signature, "base64") : Buffer.alloc(0);
  if (signature.length !== 64) return { ok: false, reason: "the signature is not a base64 Ed25519 signature" };
  const payload = signingPayload(request as DeployRequest & Record<string, unknown>);
  const candidates = request.keyId === undefined ? [...trusted] : trusted.has(request.keyId) ? [[request.keyId, trusted.get(request.keyId) as KeyObject] as const] : [];
  if (candidates.length === 0) return { ok: false, reason: `signed by ${request.keyId}, which is not among the trusted keys` };
  for (const [keyId, key] of candidates) {
    if (verify(null, payload, key, signature)) return { ok: true, keyId };
  }
  return { ok: false, reason: "bad signature: the request was altered or signed by another key" };
}

export function readSigningKey(file: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(file));
  } catch (err) {
    throw new Error(`cannot read the signing key ${file}: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== "ed25519") throw new Error(`${file} is a ${key.asymmetricKeyType} key: deploy requests are signed with Ed25519 (deploykit keygen writes one)`);
  return key;
}

/**
 * Reads the public keys an agent trusts: PEM files, or directories whose
 * *.pub files are all read. A path that does not exist is skipped (the caller
 * warns when nothing is trusted); a file that is not an Ed25519 public key is
 * an error naming it.
 */
export function readTrustedKeys(paths: readonly string[]): { keys: Map<string, KeyObject>; files: string[] } {
  const keys = new Map<string, KeyObject>();
  const files: string[] = [];
  for (const location of paths) {
    let stat: ReturnType<typeof statSync>;
    try {
      stat = statSync(location);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw err;
    }
    const found = stat.isDirectory()
      ? readdirSync(location)
          .filter((file) => file.endsWith(".pub") && !file.startsWith("."))
          .sort()
          .map((file) => path.join(location, file))
      : [location];
    for (const file of found) {
      let key: KeyObject;
      try {
        const pem = readFileSync(file, "utf8");
        if (pem.includes("PRIVATE KEY")) throw new Error("it is a private key: give the agent only the .pub file");
        key = createPublicKey(pem);
      } catch (err) {
        throw new Error(`trusted key ${file} cannot be read as a PEM public key: ${(err as Error).message}`);
      }
      if (key.asymmetricKeyType !== "ed25519") throw new Error(`trusted key ${file} is ${key.asymmetricKeyType}, not Ed25519`);
      keys.set(keyIdOf(key), key);
      files.push(file);
    }
  }
  return { keys, files };
}
