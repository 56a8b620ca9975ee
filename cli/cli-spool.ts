import { resolve } from "node:path";
import type { PublishOrSpoolResult } from "../shared/spool/publish-or-spool.ts";
import { SpoolDir } from "../shared/spool/spool-dir.ts";
import type { AllConfig } from "../shared/run-daemon.ts";

/** `--spool DIR` beats spool.dir; an empty value (or `--no-spool`) means no spool. */
export function cliSpool(option: string | boolean | undefined, values: AllConfig): SpoolDir | undefined {
  const dir = typeof option === "string" ? option : option === false ? "" : values.spool.dir;
  if (dir === "") return undefined;
  return new SpoolDir(resolve(dir), { maxFiles: values.spool.maxFiles, maxBytes: values.spool.maxBytes });
}

export const spoolOption = {
  type: "string",
  describe: "where to keep messages the bus cannot take now (default spool.dir; --no-spool: fail instead)",
} as const;

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/**
 * What happened, in the fragments of one warning line: people pushing see it
 * prefixed with "remote:", and one line is all a hook may print.
 */
export function spoolReport(result: PublishOrSpoolResult, spool: SpoolDir | undefined): string[] {
  const parts: string[] = [];
  const why = result.busError ? ` (${result.busError.message})` : "";
  if (result.spooled.length > 0 && spool) {
    const where = result.spooled.length === 1 ? `as ${result.spooled[0]?.path}` : `in ${spool.dir}`;
    parts.push(`the bus is unavailable${why}: ${plural(result.spooled.length, "message")} spooled ${where}; a later publish or deploykit spool flush delivers ${result.spooled.length === 1 ? "it" : "them"}`);
  }
  if (result.failed.length > 0) {
    const first = result.failed[0]?.error.message;
    const reason = spool ? `could not spool in ${spool.dir}: ${first}` : `could not publish: ${first}`;
    parts.push(`${plural(result.failed.length, "message")} not sent and not kept: ${reason}`);
  }
  for (const bad of result.flush?.bad ?? []) parts.push(`spooled file moved aside to ${bad.path}: ${bad.reason}`);
  return parts;
}

/** Fragments joined into one line, with no line break from an error message slipping through. */
export function oneLine(parts: readonly string[]): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what must not reach a terminal
  return parts.join("; ").replace(/[\x00-\x1f\x7f]+/g, " ");
}
