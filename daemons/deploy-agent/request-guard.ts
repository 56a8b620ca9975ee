import type { KeyObject } from "node:crypto";
import { type DeployRequest, verifyDeployRequest } from "../../shared/deploy-signature.ts";
import type { NonceStore } from "./nonce-store.ts";

export interface GuardOptions {
  trusted: ReadonlyMap<string, KeyObject>;
  nonces: NonceStore;
  maxTtlMs: number;
  clockSkewMs: number;
  now?: () => number;
}

export type GuardVerdict = { accepted: true; keyId: string; expiresAt: number } | { accepted: false; reason: string };

/**
 * Decides whether a deploy request may be acted on: signed by a trusted key,
 * issued neither in the future nor longer ago than its TTL (capped by
 * maxTtl; both allowing for clock skew), and not seen before. An accepted
 * request's nonce is remembered until it expires.
 */
export function guardRequest(request: DeployRequest, options: GuardOptions): GuardVerdict {
  const signature = verifyDeployRequest(request, options.trusted);
  if (!signature.ok) return { accepted: false, reason: signature.reason };
  const now = (options.now ?? Date.now)();
  const issuedAt = Date.parse(request.issuedAt);
  const ttlMs = Math.min(request.ttl * 1000, options.maxTtlMs);
  if (issuedAt > now + options.clockSkewMs) {
    return { accepted: false, reason: `issued in the future (${request.issuedAt}, ${Math.round((issuedAt - now) / 1000)} s ahead of this host): check the clocks` };
  }
  const expiresAt = issuedAt + ttlMs + options.clockSkewMs;
  if (expiresAt <= now) {
    return { accepted: false, reason: `expired: issued ${request.issuedAt}, ${Math.round((now - issuedAt) / 1000)} s ago, ttl ${Math.round(ttlMs / 1000)} s` };
  }
  if (options.nonces.seen(request.nonce)) return { accepted: false, reason: `replayed: nonce ${request.nonce} was already used` };
  options.nonces.remember(request.nonce, expiresAt);
  return { accepted: true, keyId: signature.keyId, expiresAt };
}
