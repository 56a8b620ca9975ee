import { isValidRef } from "../../shared/messages/index.ts";
import type { RefUpdate } from "./git-push-body.ts";

const objectId = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

/**
 * Reads a post-receive hook's standard input, one `old new ref` per line.
 * A line that is not three fields, full hex ids and a valid ref is skipped
 * with a warning and never reaches git.
 */
export function parseRefUpdates(input: string): { updates: RefUpdate[]; warnings: string[] } {
  const updates: RefUpdate[] = [];
  const warnings: string[] = [];
  for (const line of input.split("\n")) {
    if (!line.trim()) continue;
    const fields = line.trim().split(/ +/);
    const [before, after, ref] = fields;
    if (fields.length !== 3 || !before || !after || !ref) {
      warnings.push(`skipped input line ${JSON.stringify(line.slice(0, 200))}: expected "old new ref"`);
    } else if (!objectId.test(before) || !objectId.test(after)) {
      warnings.push(`skipped ref ${JSON.stringify(ref.slice(0, 200))}: its object ids are not full hex ids`);
    } else if (!isValidRef(ref) || !ref.startsWith("refs/")) {
      warnings.push(`skipped ref ${JSON.stringify(ref.slice(0, 200))}: not a valid git ref`);
    } else {
      updates.push({ before, after, ref });
    }
  }
  return { updates, warnings };
}
