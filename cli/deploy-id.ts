import { CliError } from "./cli-error.ts";

/** A deploy id as the operator types it: "17", or "#17" copied from a listing. */
export function deployId(raw: unknown, what = "the deploy id"): number {
  const text = String(raw ?? "").trim().replace(/^#/, "");
  if (!/^[1-9][0-9]{0,15}$/.test(text)) {
    throw new CliError(`${what} must be a number like 17 (the ID column of \`deploykit history\`), not "${String(raw)}"`, 64);
  }
  return Number(text);
}
