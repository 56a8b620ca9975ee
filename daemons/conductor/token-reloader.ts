import { statSync } from "node:fs";
import type { Logger } from "pino";
import { readTokens, type TokenStore } from "./api-tokens.ts";

/**
 * The tokens file as it is now: `deploykit token create` and `revoke` take
 * effect within a second, without restarting the conductor (a revoked token
 * must stop working at once). The file is looked at (stat) at most once per
 * `checkEveryMs`, on a request; a file that changed into something unreadable
 * is logged and the last good tokens stay.
 */
export function reloadingTokens(file: string, log: Logger, checkEveryMs = 1000, now: () => number = Date.now): () => TokenStore {
  let store = readTokens(file);
  let seen = signature(file);
  let checkedAt = now();
  return () => {
    if (now() - checkedAt < checkEveryMs) return store;
    checkedAt = now();
    const current = signature(file);
    if (current === seen) return store;
    seen = current;
    try {
      store = readTokens(file);
      log.info({ tokensFile: file, tokens: store.size }, "tokens file changed: reloaded");
    } catch (err) {
      log.error({ err, tokensFile: file }, "tokens file changed but cannot be read: keeping the tokens read before");
    }
    return store;
  };
}

function signature(file: string): string {
  try {
    const info = statSync(file);
    return `${info.ino}:${info.size}:${info.mtimeMs}`;
  } catch {
    return "missing";
  }
}
