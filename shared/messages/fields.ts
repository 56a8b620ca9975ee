import { z } from "zod";

// Names of apps, environments, jobs and groups: safe as file names, queue names and argv.
export const name = z
  .string()
  .max(128)
  .regex(/^[a-z0-9][a-z0-9._-]*$/, "must match [a-z0-9][a-z0-9._-]* (lowercase, no leading dot or dash)");

export const host = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "must be a host name (letters, digits, dot, dash, underscore)");

// A git object id: SHA-1 (40 hex) or SHA-256 (64 hex) repositories.
export const sha = z.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, "must be a full hex commit id");

// What git check-ref-format refuses, plus a leading dash so a ref can never be read as an option.
export function isValidRef(ref: string): boolean {
  if (ref.length === 0 || ref.length > 255) return false;
  if (ref.startsWith("-") || ref.startsWith("/") || ref.endsWith("/")) return false;
  if (ref.endsWith(".") || ref.endsWith(".lock") || ref === "@") return false;
  if (ref.includes("..") || ref.includes("//") || ref.includes("@{")) return false;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what git refuses
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(ref)) return false;
  return ref.split("/").every((part) => part.length > 0 && !part.startsWith("."));
}

export const ref = z.string().refine(isValidRef, "must be a valid git ref (see git check-ref-format), not starting with '-'");

export const isoTime = z.iso.datetime({ offset: true });

export const durationMs = z.number().int().nonnegative();
