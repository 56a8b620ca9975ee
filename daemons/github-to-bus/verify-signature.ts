import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** Hex HMAC-SHA256 of the raw body: GitHub's X-Hub-Signature-256 (after "sha256=") and Gitea's X-Gitea-Signature. */
export function hmacSha256Hex(secret: string, raw: Buffer): string {
  return createHmac("sha256", secret).update(raw).digest("hex");
}

/** Whether `given` is the hex HMAC-SHA256 of `raw` under `secret`, compared in constant time. */
export function signatureMatches(secret: string, raw: Buffer, given: string | undefined): boolean {
  if (given === undefined || !/^[0-9a-fA-F]{64}$/.test(given)) return false;
  const expected = createHmac("sha256", secret).update(raw).digest();
  return timingSafeEqual(expected, Buffer.from(given, "hex"));
}

/**
 * Whether a token sent as is (GitLab's X-Gitlab-Token, a bearer token) equals
 * `secret`. Both sides are hashed first so the comparison takes the same time
 * whatever the lengths.
 */
export function tokenMatches(secret: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const digest = (value: string) => createHash("sha256").update(value, "utf8").digest();
  return timingSafeEqual(digest(secret), digest(given));
}
