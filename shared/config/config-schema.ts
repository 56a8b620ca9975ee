// Every configuration key is declared once, here or in a daemon's config.ts:
// its doc, default and format. The environment variable name is derived from
// section and key, so the README table, the parser and Puppet cannot drift.

export type Format =
  | "string"
  | "int"
  | "nat"
  | "port"
  | "boolean"
  | "duration"
  | "string-list"
  | readonly string[];

export interface KeyDef<T> {
  doc: string;
  format: Format;
  default: T;
  /** Masked by `deploykit config check` and in logs. */
  sensitive?: boolean;
  /** null is a valid value (means "not set"). */
  nullable?: boolean;
}

export type ConfigSchema<C> = { [K in keyof C]: KeyDef<C[K]> };

export function defineConfig<C>(schema: ConfigSchema<C>): ConfigSchema<C> {
  return schema;
}

function upperSnake(value: string): string {
  return value
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .replace(/[^A-Za-z0-9]+/g, "_")
    .toUpperCase();
}

/** `keepalive.interval` is `DEPLOYKIT_KEEPALIVE_INTERVAL`; `repo-fetcher.mirrorDir` is `DEPLOYKIT_REPO_FETCHER_MIRROR_DIR`. */
export function envName(section: string, key: string): string {
  return `DEPLOYKIT_${upperSnake(section)}_${upperSnake(key)}`;
}

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30s", "500ms", "5m", "1h", "2d" or a plain number of milliseconds. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * (units[match[2] ?? "ms"] as number));
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

export function describeFormat(format: Format): string {
  if (typeof format !== "string") return `one of ${format.join(", ")}`;
  switch (format) {
    case "string":
      return "string";
    case "int":
      return "integer";
    case "nat":
      return "integer ≥ 0";
    case "port":
      return "port";
    case "boolean":
      return "true/false";
    case "duration":
      return "duration (30s, 500ms, 5m)";
    case "string-list":
      return "list (comma-separated in the environment)";
    default: {
      const unreachable: never = format;
      return unreachable;
    }
  }
}
